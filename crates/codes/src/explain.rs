//! Recognising pasted error text: messages of other provisioning systems (Google Workspace, Google's
//! auto-provisioning, Okta, Microsoft Entra, Atlassian, Adobe), SCIM and Google JSON error bodies, HTTP statuses
//! and roster's own codes. Each recognised text gets the roster code for the problem and, where the system's
//! message needs it, a note in roster's words saying what that message means. Text that matches nothing is
//! reported as not recognised; nothing is guessed.
//!
//! Longer than the project's ~800-line guide on purpose: most of the file is the table of recognised messages,
//! each with its note in English and Japanese side by side; split, one system's patterns would drift from the
//! others' order of precedence.

use crate::{ALL, Answer, Code, Lang};

/// How a signature recognises a text.
#[derive(Debug, Clone, Copy)]
enum Pattern {
    /// Every phrase occurs (case-insensitive).
    All(&'static [&'static str]),
    /// One of these numbers occurs as a whole token (a numeric error code).
    Number(&'static [&'static str]),
}

/// A known message of another system.
#[derive(Debug, Clone, Copy)]
struct Signature {
    system: &'static str,
    pattern: Pattern,
    code: &'static Code,
    note: &'static str,
    /// The note in Japanese.
    note_ja: &'static str,
}

const GOOGLE: &str = "Google Workspace Directory API";
const GOOGLE_AP: &str = "Google Workspace auto-provisioning";
const OKTA: &str = "Okta";
const ENTRA: &str = "Microsoft Entra ID provisioning";
const ATLASSIAN: &str = "Atlassian Cloud";
const ADOBE: &str = "Adobe Admin Console";

use Pattern::{All, Number};

macro_rules! sig {
    ($system:expr, $pattern:expr, $code:ident, $note:literal, $note_ja:literal) => {
        Signature {
            system: $system,
            pattern: $pattern,
            code: &crate::$code,
            note: $note,
            note_ja: $note_ja,
        }
    };
}

const SIGNATURES: &[Signature] = &[
    // Google Workspace Directory API, as seen by a provisioning service creating, updating and deleting users.
    sig!(
        GOOGLE,
        All(&["type not supported", "userkey"]),
        TARGET_UNSUPPORTED,
        "Google did not accept the key that named the user: it must be the account's primary address or its immutable id. roster addresses linked accounts by their id.",
        "Google はユーザーを指定したキーを受け付けませんでした。キーはアカウントのプライマリアドレスか、変わらない ID でなければなりません。roster はリンク済みのアカウントを ID で指定します。"
    ),
    sig!(
        GOOGLE,
        All(&["entity already exists"]),
        TARGET_TAKEN_ELSEWHERE,
        "Google already uses the address: as another user's alias, as a group's address, or for a conflicting account outside the organisation. roster first looks for a user with that primary address and links it; when none exists the address is taken by something else.",
        "Google ではこのアドレスが既に使われています。別のユーザーのエイリアス、グループのアドレス、または組織外の競合するアカウントです。roster はまずそのプライマリアドレスを持つユーザーを探してリンクし、見つからなければ別のものがアドレスを使っていると判断します。"
    ),
    sig!(
        GOOGLE,
        All(&["domain user limit"]),
        TARGET_LIMIT,
        "The Google Workspace subscription has as many users as it allows.",
        "Google Workspace のサブスクリプションで許可されているユーザー数に達しています。"
    ),
    sig!(
        GOOGLE,
        All(&["insufficient licenses"]),
        TARGET_LIMIT,
        "A product that is assigned to new users automatically has no free licence. Suspended users still hold their licences: delete the ones no longer needed, or buy more.",
        "新しいユーザーに自動で割り当てられるプロダクトに、空きライセンスがありません。停止中のユーザーもライセンスを保持したままです。不要になったユーザーを削除するか、ライセンスを追加購入してください。"
    ),
    sig!(
        GOOGLE,
        All(&["invalid_ou_id"]),
        TARGET_ORG_UNIT,
        "The org unit path sent for the user does not exist in Google Workspace: the directory's org structure and Google's differ.",
        "ユーザーに指定した組織部門のパスが Google Workspace に存在しません。ディレクトリと Google の組織構造が一致していません。"
    ),
    sig!(
        GOOGLE,
        All(&["primary_user_email"]),
        TARGET_INVALID_VALUE,
        "The primary address sent for the account is not a full email address (name@domain) of one of the organisation's domains.",
        "アカウントに送ったプライマリアドレスが、組織のいずれかのドメインの完全なメールアドレス(name@domain)ではありません。"
    ),
    sig!(
        GOOGLE,
        All(&["resource not found", "userkey"]),
        TARGET_NOT_FOUND,
        "The account (or a group with that name) is not in Google Workspace. On a delete it is already gone, which roster counts as done.",
        "アカウント(またはその名前のグループ)が Google Workspace にありません。削除の場合は既に消えているので、roster は完了として扱います。"
    ),
    sig!(
        GOOGLE,
        All(&["利用可能サービスのアカウントプロビジョニング"]),
        TARGET_NOT_FOUND,
        "The account is already deleted in Google Workspace, or the id belongs to a group. roster counts a delete of a missing account as done.",
        "アカウントは Google Workspace で既に削除されているか、その ID はグループのものです。roster は存在しないアカウントの削除を完了として扱います。"
    ),
    sig!(
        GOOGLE,
        All(&["admin cannot suspend self"]),
        PROTECTED,
        "The account to suspend or delete is the admin account the API connection acts as. roster never deprovisions the account it connects with; to retire it, connect with another super admin first.",
        "停止または削除しようとしたアカウントは、API 接続が操作に使っている管理者アカウントです。roster は接続に使うアカウントのプロビジョニングを解除しません。このアカウントを退役させるには、先に別の特権管理者で接続し直してください。"
    ),
    sig!(
        GOOGLE,
        All(&["error_executing_provisioning_request"]),
        TARGET_UNREACHABLE,
        "The request to Google did not complete. It is usually passing; roster retries with growing delays.",
        "Google へのリクエストが完了しませんでした。通常は一時的なものです。roster は間隔を広げながら再試行します。"
    ),
    sig!(
        GOOGLE,
        All(&["invalid_grant"]),
        TARGET_OAUTH_GRANT,
        "The admin account the service account acts as (its email or user id) is wrong or no longer exists.",
        "サービスアカウントが操作に使う管理者アカウント(メールアドレスまたはユーザー ID)が間違っているか、もう存在しません。"
    ),
    sig!(
        GOOGLE,
        All(&["not authorized to access this resource"]),
        TARGET_FORBIDDEN,
        "The admin account the API connection acts as was deleted, suspended, or is no longer a super admin.",
        "API 接続が操作に使う管理者アカウントが削除・停止されたか、特権管理者ではなくなりました。"
    ),
    sig!(
        GOOGLE,
        All(&["domain cannot use apis"]),
        TARGET_API_DISABLED,
        "The domain's edition or settings do not allow API access.",
        "ドメインのエディションまたは設定で、API の利用が許可されていません。"
    ),
    sig!(
        GOOGLE,
        All(&["has not been used in project"]),
        TARGET_API_DISABLED,
        "The API (for example the Admin SDK API) is not enabled in the Google Cloud project that owns the credentials, or was disabled.",
        "認証情報を所有する Google Cloud プロジェクトで、API(たとえば Admin SDK API)が有効になっていないか、無効にされました。"
    ),
    sig!(
        GOOGLE,
        All(&["unauthorized_client"]),
        TARGET_OAUTH_SCOPE,
        "The client id lacks the API scopes: add them under domain-wide delegation in the Google Admin console.",
        "クライアント ID に API のスコープがありません。Google 管理コンソールのドメイン全体の委任で追加してください。"
    ),
    sig!(
        GOOGLE,
        All(&["deleted_client"]),
        TARGET_CLIENT_DELETED,
        "The OAuth client the connection used was deleted in the Google Cloud console.",
        "接続に使っていた OAuth クライアントが Google Cloud コンソールで削除されました。"
    ),
    sig!(
        GOOGLE,
        All(&["project", "has been deleted"]),
        TARGET_CLIENT_DELETED,
        "The Google Cloud project that owned the connection's credentials was deleted.",
        "接続の認証情報を所有していた Google Cloud プロジェクトが削除されました。"
    ),
    // Google Workspace auto-provisioning to SAML apps: configuration time.
    sig!(
        GOOGLE_AP,
        All(&["authorization token could not be generated"]),
        TARGET_OAUTH_GRANT,
        "The authorisation code could not be exchanged for a refresh token: it was wrong or expired before the setup was saved. Authorise again and save at once.",
        "認可コードをリフレッシュトークンに交換できませんでした。コードが間違っていたか、設定を保存する前に期限切れになりました。もう一度認可して、すぐに保存してください。"
    ),
    sig!(
        GOOGLE_AP,
        All(&["your page is stale"]),
        APP_STALE,
        "The provisioning setup changed in another window or by another admin since the page was loaded. roster rejects such edits the same way (roster app edit --if-version) instead of overwriting them.",
        "ページを読み込んだ後に、別のウィンドウまたは別の管理者がプロビジョニング設定を変更しました。roster も同じように、上書きせずにそのような編集を拒否します(roster app edit --if-version)。"
    ),
    sig!(
        GOOGLE_AP,
        All(&["couldn't fetch provisioning"]),
        TARGET_UNAVAILABLE,
        "A passing failure of the admin console; reload and try again.",
        "管理コンソールの一時的な失敗です。再読み込みしてもう一度試してください。"
    ),
    sig!(
        GOOGLE_AP,
        All(&["provisioning activation failed"]),
        TARGET_UNAVAILABLE,
        "A passing failure of the admin console; activate again.",
        "管理コンソールの一時的な失敗です。もう一度有効化してください。"
    ),
    sig!(
        GOOGLE_AP,
        All(&["provisioning setup couldn't be"]),
        TARGET_UNAVAILABLE,
        "A passing failure of the admin console; save the setup again.",
        "管理コンソールの一時的な失敗です。設定をもう一度保存してください。"
    ),
    sig!(
        GOOGLE_AP,
        All(&["error deleting provisioning setup"]),
        TARGET_UNAVAILABLE,
        "A passing failure of the admin console; delete the setup again.",
        "管理コンソールの一時的な失敗です。設定をもう一度削除してください。"
    ),
    sig!(
        GOOGLE_AP,
        All(&["couldn't fetch custom attributes"]),
        TARGET_UNAVAILABLE,
        "A passing failure of the admin console; save the custom attributes again.",
        "管理コンソールの一時的な失敗です。カスタム属性をもう一度保存してください。"
    ),
    sig!(
        GOOGLE_AP,
        All(&["couldn't update"]),
        TARGET_UNAVAILABLE,
        "A passing failure of the admin console while saving the mapping, group or deprovisioning settings; save them again.",
        "マッピング、グループ、プロビジョニング解除の設定を保存する際の、管理コンソールの一時的な失敗です。もう一度保存してください。"
    ),
    sig!(
        GOOGLE_AP,
        All(&["error while updating provisioning configuration"]),
        TARGET_UNAVAILABLE,
        "A passing failure of the admin console; reload and try again.",
        "管理コンソールの一時的な失敗です。再読み込みしてもう一度試してください。"
    ),
    sig!(
        GOOGLE_AP,
        All(&["error enabling provisioning"]),
        TARGET_UNAVAILABLE,
        "A passing failure of the admin console; switch provisioning on again.",
        "管理コンソールの一時的な失敗です。プロビジョニングをもう一度オンにしてください。"
    ),
    sig!(
        GOOGLE_AP,
        All(&["couldn't revoke api client access"]),
        TARGET_OAUTH_SCOPE,
        "The setup was deleted but the app's access to Google's directory was not revoked: remove its client by hand under Security, API controls. roster drops an app's credential with roster app remove.",
        "設定は削除されましたが、Google のディレクトリへのアプリのアクセスが取り消されていません。セキュリティ > API の制御 で、そのクライアントを手動で削除してください。roster では roster app remove でアプリの認証情報が削除されます。"
    ),
    sig!(
        GOOGLE_AP,
        All(&["scim endpoint url provided is invalid"]),
        TARGET_ENDPOINT,
        "The SCIM endpoint URL entered for the app is wrong.",
        "アプリに入力した SCIM エンドポイント URL が間違っています。"
    ),
    sig!(
        GOOGLE_AP,
        All(&["couldn't fetch attributes from your target"]),
        TARGET_SCHEMA,
        "The app's attributes could not be read from its SCIM endpoint.",
        "アプリの SCIM エンドポイントから属性を読み取れませんでした。"
    ),
    sig!(
        GOOGLE_AP,
        All(&["couldn't fetch your target resource schema"]),
        TARGET_SCHEMA,
        "The app's resource schema could not be read: usually the endpoint URL is wrong.",
        "アプリのリソーススキーマを読み取れませんでした。通常はエンドポイント URL が間違っています。"
    ),
    sig!(
        GOOGLE_AP,
        All(&["authentication failed"]),
        TARGET_AUTH_FAILED,
        "The credentials entered for the app (such as its bearer token) are wrong.",
        "アプリに入力した認証情報(ベアラートークンなど)が間違っています。"
    ),
    // Google Workspace auto-provisioning: runtime codes.
    sig!(
        GOOGLE_AP,
        Number(&["17003", "17006", "17007", "17008"]),
        TARGET_OAUTH_SCOPE,
        "Google's provisioning client lost its permission to read Google's directory (users, user schemas, group members). Grant its client id those read-only scopes again under domain-wide delegation, or remove and add the app again.",
        "Google のプロビジョニングクライアントが、Google のディレクトリ(ユーザー、ユーザースキーマ、グループのメンバー)を読む権限を失いました。ドメイン全体の委任で、そのクライアント ID に読み取り専用のスコープを再度付与するか、アプリを削除して追加し直してください。"
    ),
    sig!(
        GOOGLE_AP,
        Number(&["17010", "17013"]),
        TARGET_AUTH_FAILED,
        "The token for the app's SCIM endpoint was revoked. Authorise again in the app's provisioning settings.",
        "アプリの SCIM エンドポイント用のトークンが取り消されました。アプリのプロビジョニング設定でもう一度認可してください。"
    ),
    sig!(
        GOOGLE_AP,
        Number(&["17002", "17011"]),
        TARGET_UNAVAILABLE,
        "Google could not issue an access token because one of its services was down; it clears by itself.",
        "Google のサービスの一つが停止していたため、アクセストークンを発行できませんでした。自動的に解消します。"
    ),
    sig!(
        GOOGLE_AP,
        Number(&["17009"]),
        TARGET_OAUTH_GRANT,
        "No access token could be made from the stored refresh token. Authorise again.",
        "保存されたリフレッシュトークンからアクセストークンを作成できませんでした。もう一度認可してください。"
    ),
    sig!(
        GOOGLE_AP,
        Number(&[
            "1200x", "12000", "12001", "12002", "12003", "12004", "12005", "12006", "12007", "12008", "12009"
        ]),
        TARGET_UNAVAILABLE,
        "An internal error of Google's provisioning service; it clears by itself.",
        "Google のプロビジョニングサービスの内部エラーです。自動的に解消します。"
    ),
    sig!(
        GOOGLE_AP,
        Number(&["25001", "25016"]),
        TARGET_UNAVAILABLE,
        "Google's provisioning backend failed for this app; set up auto-provisioning again if it persists.",
        "このアプリについて Google のプロビジョニングのバックエンドが失敗しました。続く場合は自動プロビジョニングを設定し直してください。"
    ),
    sig!(
        GOOGLE_AP,
        Number(&["25005", "50001", "50003", "50006"]),
        TARGET_UNAVAILABLE,
        "An internal error of Google's provisioning service; it clears by itself.",
        "Google のプロビジョニングサービスの内部エラーです。自動的に解消します。"
    ),
    sig!(
        GOOGLE_AP,
        Number(&["25002"]),
        TARGET_NOT_INSTALLED,
        "The app is not installed for the organisation; install it, then set up provisioning again.",
        "アプリが組織にインストールされていません。インストールしてから、プロビジョニングを設定し直してください。"
    ),
    sig!(
        GOOGLE_AP,
        Number(&["50005"]),
        SCOPE_GROUP_MISSING,
        "A group in the provisioning scope was deleted. roster reports this the same way and deprovisions nobody until the scope is fixed.",
        "プロビジョニングのスコープにあるグループが削除されました。roster も同じように報告し、スコープが修正されるまで誰のプロビジョニングも解除しません。"
    ),
    sig!(
        GOOGLE_AP,
        Number(&["45003"]),
        TARGET_REJECTED,
        "The app refused one create, update or delete. The detail says which: licence limit (R-TARGET-LIMIT), value too long (R-TARGET-INVALID-VALUE), missing entitlement (R-TARGET-MISSING-VALUE), user name taken (R-TARGET-UNIQUENESS), user not found (R-TARGET-NOT-FOUND) or an invalid SCIM id.",
        "アプリが作成、更新、削除のいずれかを拒否しました。詳細にどれかが示されています: ライセンスの上限(R-TARGET-LIMIT)、長すぎる値(R-TARGET-INVALID-VALUE)、不足している権利(R-TARGET-MISSING-VALUE)、使用済みのユーザー名(R-TARGET-UNIQUENESS)、見つからないユーザー(R-TARGET-NOT-FOUND)、または無効な SCIM ID。"
    ),
    sig!(
        GOOGLE_AP,
        Number(&["45004"]),
        TARGET_UNAVAILABLE,
        "The app failed or is down (its message may say \"Quota Exceeded\"); contact its vendor if it lasts.",
        "アプリが失敗したか停止しています(メッセージに \"Quota Exceeded\" とあることがあります)。続く場合はベンダーに連絡してください。"
    ),
    sig!(
        GOOGLE_AP,
        Number(&["45005"]),
        TARGET_UNREACHABLE,
        "The app's SCIM endpoint cannot be reached; check the URL.",
        "アプリの SCIM エンドポイントに接続できません。URL を確認してください。"
    ),
    sig!(
        GOOGLE_AP,
        Number(&["45006"]),
        TARGET_INVALID_VALUE,
        "The app refused a value: too long, insufficient or invalid licence, or an entitlement it does not have.",
        "アプリが値を拒否しました。長すぎる、ライセンスが不足または無効、またはアプリにない権利です。"
    ),
    sig!(
        GOOGLE_AP,
        Number(&["45016"]),
        TARGET_MISSING_VALUE,
        "The app requires a field that was not sent.",
        "アプリが必須とするフィールドが送られていません。"
    ),
    // Okta pushing to a SaaS app (Slack as the example).
    sig!(
        OKTA,
        All(&["no user returned for user"]),
        TARGET_NOT_FOUND,
        "The IdP still holds the app's account id (its \"external ID\") but the account was deleted in the app. roster keeps links the same way and repairs this by itself: it matches the identity to an existing account or creates a new one, as --stale-link says, and logs it.",
        "IdP はアプリのアカウント ID(\"外部 ID\")を保持したままですが、アカウントはアプリで削除されています。roster も同じようにリンクを保持し、自動で修復します。--stale-link の設定に従って、ID を既存のアカウントに照合するか新しいアカウントを作成し、ログに記録します。"
    ),
    sig!(
        OKTA,
        All(&["user account is inactive"]),
        TARGET_INACTIVE,
        "The account was deactivated in the app while the identity is still assigned. roster reactivates the linked account (active: true) when the identity is in scope, so no one has to edit ids by hand.",
        "ID が割り当てられたままなのに、アカウントがアプリで無効化されました。ID がスコープ内にあれば、roster はリンク済みのアカウントを再び有効化(active: true)するので、誰も ID を手で編集する必要はありません。"
    ),
    // Microsoft Entra ID to Atlassian Cloud.
    sig!(
        ENTRA,
        All(&["systemforcrossdomainidentitymanagementserviceincompatiblefiltering"]),
        TARGET_UNIQUENESS,
        "Entra's label for an app's 409 answer: the app already has another account with the value being written (often the new email address).",
        "アプリが返した 409 に対する Entra のラベルです。書き込もうとした値(多くは新しいメールアドレス)を、アプリの別のアカウントが既に持っています。"
    ),
    sig!(
        ATLASSIAN,
        All(&["with email", "already exists"]),
        TARGET_UNIQUENESS,
        "Another Atlassian account already has this email. If it is the same person, roster links it (matching by userName, then email); otherwise change the other account's address in Atlassian (Directory, Managed accounts).",
        "別の Atlassian アカウントが既にこのメールアドレスを持っています。同じ人であれば roster がリンクします(userName、次にメールアドレスで照合)。そうでなければ、Atlassian(ディレクトリ > 管理対象アカウント)で別のアカウントのアドレスを変更してください。"
    ),
    sig!(
        ATLASSIAN,
        All(&["duplicate", "account"]),
        MATCH_AMBIGUOUS,
        "Re-syncing a user that was deleted in the IdP made a second, empty account. roster keeps the link of a deleted identity, so an identity that comes back gets its old account again; if an app already holds two, roster reports R-MATCH-AMBIGUOUS and creates nothing.",
        "IdP で削除されたユーザーを再同期したため、空の 2 つ目のアカウントができました。roster は削除された ID のリンクを保持するので、戻ってきた ID は以前のアカウントを再び使います。アプリに既に 2 つある場合は R-MATCH-AMBIGUOUS を報告し、何も作成しません。"
    ),
    // Adobe Admin Console with Google Sync.
    sig!(
        ADOBE,
        All(&["quarantin"]),
        APP_QUARANTINED,
        "The sync's error rate crossed a threshold, so calls are refused for a while, then accepted on probation. roster quarantines an app the same way on its side (so it stops feeding the app's error count) and resumes by itself when probes succeed.",
        "同期のエラー率がしきい値を超えたため、しばらく呼び出しが拒否され、その後は保護観察として受け付けられます。roster も自分の側で同じようにアプリを強制隔離し(アプリのエラー数を増やさないため)、確認が成功すると自動で再開します。"
    ),
    sig!(
        ADOBE,
        All(&["強制隔離"]),
        APP_QUARANTINED,
        "The sync's error rate crossed a threshold, so calls are refused for a while, then accepted on probation. roster quarantines an app the same way on its side and resumes by itself when probes succeed.",
        "同期のエラー率がしきい値を超えたため、しばらく呼び出しが拒否され、その後は保護観察として受け付けられます。roster も自分の側で同じようにアプリを強制隔離し、確認が成功すると自動で再開します。"
    ),
    sig!(
        ADOBE,
        All(&["adobe:2.0:user.organizationalunit"]),
        TARGET_ORG_UNIT,
        "Adobe makes one group per org unit from this extension attribute. Map it from the directory's org unit: roster app edit NAME --map 'urn:ietf:params:scim:schemas:extension:Adobe:2.0:User.organizationalUnit=urn:ietf:params:scim:schemas:extension:enterprise:2.0:User.department'.",
        "Adobe はこの拡張属性から組織部門ごとにグループを作ります。ディレクトリの組織部門からマッピングしてください: roster app edit NAME --map 'urn:ietf:params:scim:schemas:extension:Adobe:2.0:User.organizationalUnit=urn:ietf:params:scim:schemas:extension:enterprise:2.0:User.department'。"
    ),
];

/// Why a text was recognised.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Source {
    /// A message of another system.
    Known {
        /// The system's name.
        system: &'static str,
        /// What that system's message means, in roster's words.
        note: &'static str,
        /// The same in Japanese.
        note_ja: &'static str,
    },
    /// A roster code named in the text.
    RosterCode,
    /// An error body (SCIM, Google or OAuth2 JSON) read as a target's answer.
    ErrorBody {
        /// The status in the body, if any.
        status: u16,
        /// SCIM's `scimType`, Google's reason or OAuth2's error.
        reason: Option<String>,
    },
    /// An HTTP status named in the text.
    Status(u16),
}

/// One way a text was understood.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Explanation {
    /// The roster code.
    pub code: &'static Code,
    /// Why.
    pub source: Source,
}

impl Explanation {
    /// As JSON in English: the code's JSON with `recognised_as` and `meaning`.
    pub fn to_json(&self) -> serde_json::Value {
        self.to_json_in(Lang::En)
    }

    /// What another system's message means, in `lang`; `None` when the text was not such a message.
    pub fn note_in(&self, lang: Lang) -> Option<&'static str> {
        match (&self.source, lang) {
            (Source::Known { note, .. }, Lang::En) => Some(note),
            (Source::Known { note_ja, .. }, Lang::Ja) => Some(note_ja),
            _ => None,
        }
    }

    /// As JSON in `lang`.
    pub fn to_json_in(&self, lang: Lang) -> serde_json::Value {
        let mut v = self.code.to_json_in(lang);
        let system = match &self.source {
            Source::Known { system, .. } => Some(*system),
            _ => None,
        };
        v["recognised_as"] = serde_json::json!(system);
        v["meaning"] = serde_json::json!(self.note_in(lang));
        v
    }
}

/// Everything roster recognises in `text`, most specific first; empty when nothing is recognised.
pub fn explain(text: &str) -> Vec<Explanation> {
    let lower = text.to_lowercase();
    let mut found: Vec<(usize, Explanation)> = Vec::new();
    let push = |rank: usize, e: Explanation, found: &mut Vec<(usize, Explanation)>| {
        if !found.iter().any(|(_, f)| f.code == e.code) {
            found.push((rank, e));
        }
    };
    // Roster's own codes are exact.
    for code in ALL {
        if contains_token(&lower, &code.code.to_lowercase()) {
            push(
                10_000,
                Explanation {
                    code,
                    source: Source::RosterCode,
                },
                &mut found,
            );
        }
    }
    // Known messages, the longest match first.
    let mut sigs: Vec<(usize, &Signature)> = SIGNATURES
        .iter()
        .filter_map(|s| matches(&s.pattern, &lower).map(|len| (len, s)))
        .collect();
    sigs.sort_by_key(|s| std::cmp::Reverse(s.0));
    for (len, s) in sigs {
        push(
            1_000 + len,
            Explanation {
                code: s.code,
                source: Source::Known {
                    system: s.system,
                    note: s.note,
                    note_ja: s.note_ja,
                },
            },
            &mut found,
        );
    }
    // An error body pasted whole.
    if let Some(answer) = json_body(text) {
        let reason = answer.scim_type.clone().or_else(|| answer.reason.clone());
        if answer.status != 0 || reason.is_some() {
            push(
                500,
                Explanation {
                    code: answer.code(),
                    source: Source::ErrorBody {
                        status: answer.status,
                        reason,
                    },
                },
                &mut found,
            );
        }
    }
    // A bare HTTP status.
    if found.is_empty()
        && let Some(status) = http_status(&lower)
    {
        let code = crate::classify(status, None, "");
        push(
            100,
            Explanation {
                code,
                source: Source::Status(status),
            },
            &mut found,
        );
    }
    found.sort_by_key(|f| std::cmp::Reverse(f.0));
    found.into_iter().map(|(_, e)| e).collect()
}

/// The matched length when `pattern` occurs in `lower`.
fn matches(pattern: &Pattern, lower: &str) -> Option<usize> {
    match pattern {
        All(words) => words
            .iter()
            .try_fold(0, |n, w| lower.contains(w).then(|| n + w.len())),
        Number(numbers) => numbers
            .iter()
            .find(|n| contains_token(lower, n))
            .map(|n| n.len() + 20),
    }
}

/// Whether `needle` occurs in `hay` not glued to other letters, digits or hyphens.
fn contains_token(hay: &str, needle: &str) -> bool {
    let glued = |c: Option<char>| c.is_some_and(|c| c.is_alphanumeric() || c == '-' || c == '_');
    hay.match_indices(needle)
        .any(|(i, m)| !glued(hay[..i].chars().next_back()) && !glued(hay[i + m.len()..].chars().next()))
}

/// How many `{` are tried as the start of a JSON error answer: a pasted message has its JSON near the top.
const MAX_JSON_STARTS: usize = 16;

/// The first JSON object in the text that parses, read as an error answer. Each candidate start is parsed once,
/// up to the end of the value that begins there, and only the first [`MAX_JSON_STARTS`] braces are tried, so
/// the work is linear in the text whatever it holds (`{{{{…}}}}` included).
fn json_body(text: &str) -> Option<Answer> {
    for (start, _) in text.match_indices('{').take(MAX_JSON_STARTS) {
        let rest = &text[start..];
        let mut values = serde_json::Deserializer::from_str(rest).into_iter::<serde_json::Value>();
        if let Some(Ok(serde_json::Value::Object(_))) = values.next() {
            return Some(Answer::read(0, &rest[..values.byte_offset()]));
        }
    }
    None
}

/// An HTTP status the text names: `HTTP 503`, `status 409`, `(412)`, `StatusCode: Conflict`, or a reason phrase.
fn http_status(lower: &str) -> Option<u16> {
    const PHRASES: &[(&str, u16)] = &[
        ("bad request", 400),
        ("unauthorized", 401),
        ("forbidden", 403),
        ("not found", 404),
        ("method not allowed", 405),
        ("conflict", 409),
        ("precondition failed", 412),
        ("payload too large", 413),
        ("request entity too large", 413),
        ("too many requests", 429),
        ("internal server error", 500),
        ("not implemented", 501),
        ("bad gateway", 502),
        ("service unavailable", 503),
        ("gateway timeout", 504),
    ];
    let numeric = lower
        .split(|c: char| !c.is_ascii_digit())
        .filter(|t| t.len() == 3)
        .filter_map(|t| t.parse::<u16>().ok())
        .find(|s| (400..600).contains(s));
    numeric.or_else(|| PHRASES.iter().find(|(p, _)| lower.contains(p)).map(|(_, s)| *s))
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    fn first(text: &str) -> &'static str {
        explain(text).first().map_or("none", |e| e.code.code)
    }

    /// Braces without JSON between them (which cost a parse per pair of braces before) are read once each,
    /// and a JSON answer after them is still found when it is among the first braces.
    /// Every known message is explained in Japanese too, naming the same roster codes and commands.
    #[test]
    fn every_known_message_is_explained_in_japanese() {
        let japanese = |s: &str| s.chars().any(|c| ('\u{3040}'..='\u{30ff}').contains(&c));
        for sig in SIGNATURES {
            assert!(
                japanese(sig.note_ja) && sig.note_ja.ends_with('。'),
                "{}",
                sig.note
            );
            for w in sig
                .note
                .split(|c: char| c.is_whitespace() || matches!(c, '(' | ')' | ',' | ';'))
            {
                let w = w.trim_end_matches(['.', ':']);
                if w.starts_with("R-") || w.starts_with("--") {
                    assert!(sig.note_ja.contains(w), "{w} missing from: {}", sig.note_ja);
                }
            }
            for cmd in ["roster app edit", "roster app remove", "roster app release"] {
                assert_eq!(
                    sig.note.contains(cmd),
                    sig.note_ja.contains(cmd),
                    "{cmd}: {}",
                    sig.note_ja
                );
            }
        }
        let found = explain("Admin cannot suspend self");
        assert_eq!(
            found[0].note_in(Lang::Ja),
            Some(
                SIGNATURES
                    .iter()
                    .find(|s| s.code.code == "R-PROTECTED")
                    .unwrap()
                    .note_ja
            )
        );
        assert_eq!(found[0].to_json_in(Lang::Ja)["lang"], "ja");
    }

    #[test]
    fn brace_storms_are_read_in_linear_time() {
        let storm = format!("{}{}", "{".repeat(32 * 1024), "}".repeat(32 * 1024));
        assert!(json_body(&storm).is_none());
        let pasted = r#"HTTP 409 {"schemas":["urn:ietf:params:scim:api:messages:2.0:Error"],"status":"409","scimType":"uniqueness"} }}}"#;
        assert!(json_body(pasted).is_some());
    }

    #[test]
    fn every_seed_message_is_recognised() {
        // Seed 000: the seventeen Directory API errors, as a provisioning history shows them.
        let google = [
            (
                "badRequest (400) Type not supported: userKey",
                "R-TARGET-UNSUPPORTED",
            ),
            (
                "duplicate (409) Entity already exists.",
                "R-TARGET-TAKEN-ELSEWHERE",
            ),
            ("limitExceeded (412) Domain user limit reached.", "R-TARGET-LIMIT"),
            (
                "limitExceeded (412) Insufficient licenses for one or more products that are set to automatically assign licenses to new users",
                "R-TARGET-LIMIT",
            ),
            ("invalid (400) Invalid Input: INVALID_OU_ID", "R-TARGET-ORG-UNIT"),
            (
                "invalid (400) Invalid Input: primary_user_email",
                "R-TARGET-INVALID-VALUE",
            ),
            ("notFound (404) Resource Not Found: userKey", "R-TARGET-NOT-FOUND"),
            (
                "利用可能サービスのアカウントプロビジョニングの際にエラーが発生しました。",
                "R-TARGET-NOT-FOUND",
            ),
            ("badRequest (400) Admin cannot suspend self", "R-PROTECTED"),
            ("error_executing_provisioning_request (0)", "R-TARGET-UNREACHABLE"),
            (
                "invalid_grant (400) Invalid email or User ID",
                "R-TARGET-OAUTH-GRANT",
            ),
            (
                "forbidden (403) Not Authorized to access this resource/api",
                "R-TARGET-FORBIDDEN",
            ),
            (
                "domainCannotUseApis (403) Domain cannot use apis",
                "R-TARGET-API-DISABLED",
            ),
            (
                "accessNotConfigured (403) Admin SDK API has not been used in project 123456 before or it is disabled.",
                "R-TARGET-API-DISABLED",
            ),
            (
                "unauthorized_client (401) Client is unauthorized to retrieve access tokens using this method, or client not authorized for any of the scopes requested",
                "R-TARGET-OAUTH-SCOPE",
            ),
            (
                "deleted_client (401) The OAuth client was deleted",
                "R-TARGET-CLIENT-DELETED",
            ),
            (
                "forbidden (403) Project #123456 has been deleted",
                "R-TARGET-CLIENT-DELETED",
            ),
        ];
        // Seed 001: configuration-time messages and runtime codes.
        let auto = [
            (
                "Authorization token could not be generated.",
                "R-TARGET-OAUTH-GRANT",
            ),
            (
                "Your page is stale. Provisioning setup exists. Refresh to override existing setup.",
                "R-APP-STALE",
            ),
            ("Couldn't fetch provisioning status", "R-TARGET-UNAVAILABLE"),
            ("Couldn't update attribute mapping", "R-TARGET-UNAVAILABLE"),
            ("Authentication failed", "R-TARGET-AUTH"),
            ("SCIM Endpoint URL provided is invalid", "R-TARGET-ENDPOINT"),
            ("Couldn't fetch your target resource schema", "R-TARGET-SCHEMA"),
            ("Error code 17003", "R-TARGET-OAUTH-SCOPE"),
            ("17010", "R-TARGET-AUTH"),
            ("17011", "R-TARGET-UNAVAILABLE"),
            ("17009", "R-TARGET-OAUTH-GRANT"),
            ("1200x Internal Error", "R-TARGET-UNAVAILABLE"),
            ("25002", "R-TARGET-NOT-INSTALLED"),
            ("25005", "R-TARGET-UNAVAILABLE"),
            (
                "50005 A deleted group is present in the configured group filters.",
                "R-SCOPE-GROUP-MISSING",
            ),
            ("45003", "R-TARGET-REJECTED"),
            ("45004 Internal error - Quota Exceeded", "R-TARGET-UNAVAILABLE"),
            ("45005", "R-TARGET-UNREACHABLE"),
            ("45006", "R-TARGET-INVALID-VALUE"),
            ("45016", "R-TARGET-MISSING-VALUE"),
        ];
        // Seeds 002 to 004.
        let others = [
            (
                "Automatic profile push of jdoe to app Slack failed: Error while trying to push profile update for jdoe@example.com: No user returned for user U024BE7LH",
                "R-TARGET-NOT-FOUND",
            ),
            ("User account is inactive", "R-TARGET-INACTIVE"),
            (
                r#"SystemForCrossDomainIdentityManagementServiceIncompatibleFiltering StatusCode: Conflict {"schemas":["urn:ietf:params:scim:api:messages:2.0:Error"],"status":"409","scimType":"uniqueness","detail":"Resource [USER]: with email[email@domain] already exists."}"#,
                "R-TARGET-UNIQUENESS",
            ),
            ("The sync was placed in quarantine", "R-APP-QUARANTINED"),
            ("同期は強制隔離された状態です", "R-APP-QUARANTINED"),
        ];
        for (text, code) in google.iter().chain(&auto).chain(&others) {
            assert_eq!(first(text), *code, "{text}");
        }
    }

    #[test]
    fn bodies_statuses_and_codes_are_read() {
        assert_eq!(
            first(
                r#"{"error":{"code":429,"errors":[{"reason":"userRateLimitExceeded","message":"slow"}],"message":"slow"}}"#
            ),
            "R-TARGET-RATE-LIMITED"
        );
        assert_eq!(
            first(r#"got {"status":"400","scimType":"mutability","detail":"id is readOnly"} back"#),
            "R-TARGET-MUTABILITY"
        );
        assert_eq!(first("HTTP 503 from upstream"), "R-TARGET-UNAVAILABLE");
        assert_eq!(first("429 Too Many Requests"), "R-TARGET-RATE-LIMITED");
        assert_eq!(first("see r-target-limit in the log"), "R-TARGET-LIMIT");
        // A code inside a longer token is not that code.
        assert_eq!(first("R-TARGET-LIMITED"), "none");
    }

    #[test]
    fn unknown_text_is_not_guessed() {
        assert!(explain("the weather is fine today").is_empty());
        assert!(explain("").is_empty());
        // Numbers that are not codes or statuses are not errors.
        assert!(explain("order 12345 shipped on 2026-11-24").is_empty());
    }
}
