//! # roster-codes
//!
//! roster's error catalog: one table of stable codes, each with a title, cause, fix, category and whether roster
//! retries on its own; the classifiers that turn a target's answer (status, SCIM `scimType`, Google's reasons,
//! OAuth2 errors, message words) into a code; and [`explain()`], which recognises error texts of other provisioning
//! systems and of roster itself. The provisioning log, queue rows, the CLI and the SCIM server all name these
//! codes, so an admin can look any of them up (`roster explain CODE`).
//! [`redact`] holds what never appears in such a message: a credential ([`redact::Secret`]) and the secrets a URL
//! may carry ([`redact::redact_url`]).
//!
//! **Must never import** another roster crate: every crate names codes, so this one depends on none.
//!
//! Longer than the project's ~800-line guide on purpose: the catalog is one table, each code's English and Japanese
//! texts side by side (a code without Japanese does not compile); the classifiers that map answers to it follow.

pub mod explain;
pub mod redact;
pub use explain::{Explanation, Source, explain};

/// What kind of problem a code is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Category {
    /// The app's settings are wrong.
    Configuration,
    /// The target refused roster's credentials.
    Authentication,
    /// The target refused the data.
    Rejected,
    /// Two accounts or identities collide.
    Conflict,
    /// Something expected is not there.
    NotFound,
    /// A licence or quota is exhausted.
    Limit,
    /// A passing failure; retrying helps.
    Transient,
    /// The target asked roster to slow down.
    RateLimit,
    /// roster itself failed.
    Internal,
}

/// A language roster speaks to admins in. Codes, categories, causes and fixes exist in each; commands and
/// attribute names in them stay as typed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Lang {
    /// English.
    #[default]
    En,
    /// Japanese.
    Ja,
}

impl Lang {
    /// A language tag (`en`, `ja`, `ja-JP`, `ja_JP.UTF-8`): its primary language, if roster speaks it.
    pub fn parse(tag: &str) -> Option<Self> {
        let primary = tag
            .split(['-', '_', '.', '@'])
            .next()
            .unwrap_or_default()
            .trim()
            .to_ascii_lowercase();
        match primary.as_str() {
            "en" | "c" | "posix" => Some(Self::En),
            "ja" => Some(Self::Ja),
            _ => None,
        }
    }

    /// The first language of an `Accept-Language` header roster speaks, by the weights given; English when none.
    pub fn from_accept_language(header: &str) -> Self {
        let mut ranked: Vec<(f32, Self)> = header
            .split(',')
            .filter_map(|part| {
                let mut it = part.split(';');
                let lang = Self::parse(it.next()?)?;
                let q = it
                    .find_map(|p| p.trim().strip_prefix("q="))
                    .map_or(Some(1.0), |q| q.trim().parse::<f32>().ok())?;
                (q > 0.0).then_some((q, lang))
            })
            .collect();
        ranked.sort_by(|a, b| b.0.total_cmp(&a.0));
        ranked.first().map_or(Self::En, |r| r.1)
    }

    /// The language from environment variables as the C library reads them (`LC_ALL`, `LC_MESSAGES`, `LANG`),
    /// with `ROSTER_LANG` first; English when none names a language roster speaks.
    pub fn from_env(get: impl Fn(&str) -> Option<String>) -> Self {
        ["ROSTER_LANG", "LC_ALL", "LC_MESSAGES", "LANG"]
            .iter()
            .find_map(|v| get(v).filter(|s| !s.is_empty()))
            .and_then(|s| Self::parse(&s))
            .unwrap_or_default()
    }

    /// Its tag (`en`, `ja`).
    pub const fn tag(self) -> &'static str {
        match self {
            Self::En => "en",
            Self::Ja => "ja",
        }
    }
}

/// A code's words in one language.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Texts {
    /// A short title.
    pub title: &'static str,
    /// Why it happens.
    pub cause: &'static str,
    /// What to do.
    pub fix: &'static str,
}

/// One code. Two codes are equal when they are the same code (`R-…`): compare codes, not their strings.
#[derive(Debug, Clone, Copy)]
pub struct Code {
    /// The stable code.
    pub code: &'static str,
    /// A short title.
    pub title: &'static str,
    /// Why it happens.
    pub cause: &'static str,
    /// What to do.
    pub fix: &'static str,
    /// What kind of problem it is.
    pub category: Category,
    /// Whether roster retries on its own.
    pub retryable: bool,
    /// Title, cause and fix in Japanese.
    pub ja: Texts,
}

impl PartialEq for Code {
    fn eq(&self, other: &Self) -> bool {
        self.code == other.code
    }
}

impl Eq for Code {}

impl Code {
    /// Title, cause and fix in `lang`.
    pub const fn texts(&self, lang: Lang) -> Texts {
        match lang {
            Lang::En => Texts {
                title: self.title,
                cause: self.cause,
                fix: self.fix,
            },
            Lang::Ja => self.ja,
        }
    }

    /// The code as JSON in English: `code`, `title`, `category`, `retryable`, `cause`, `fix` (the CLI's and the
    /// API's form).
    pub fn to_json(&self) -> serde_json::Value {
        self.to_json_in(Lang::En)
    }

    /// The code as JSON in `lang` (with `lang` naming it).
    pub fn to_json_in(&self, lang: Lang) -> serde_json::Value {
        let t = self.texts(lang);
        serde_json::json!({
            "code": self.code,
            "title": t.title,
            "category": self.category.name_in(lang),
            "retryable": self.retryable,
            "cause": t.cause,
            "fix": t.fix,
            "lang": lang.tag(),
        })
    }
}

macro_rules! codes {
    ($($name:ident = $code:literal, $cat:ident, $retry:literal, $title:literal, $cause:literal, $fix:literal,
       ja $ja_title:literal, $ja_cause:literal, $ja_fix:literal;)*) => {
        $(
            #[doc = $title]
            pub const $name: Code = Code {
                code: $code, title: $title, cause: $cause, fix: $fix, category: Category::$cat, retryable: $retry,
                ja: Texts { title: $ja_title, cause: $ja_cause, fix: $ja_fix },
            };
        )*
        /// Every code, in one table.
        pub const ALL: &[Code] = &[$($name),*];
    };
}

codes! {
    // Configuration: the app's settings in roster are wrong.
    TARGET_ENDPOINT = "R-TARGET-ENDPOINT", Configuration, false,
        "The SCIM URL is wrong",
        "The app answered 404 at the SCIM URL's discovery endpoints: it is not the base of a SCIM API.",
        "Use the app's SCIM base URL (it usually ends in /scim/v2): roster app edit NAME --scim-url URL.",
        ja "SCIM URL が正しくありません",
        "アプリの SCIM URL の検出エンドポイントが 404 を返しました。この URL は SCIM API のベース URL ではありません。",
        "アプリの SCIM ベース URL(通常は /scim/v2 で終わります)を設定してください: roster app edit NAME --scim-url URL。";
    TARGET_SCHEMA = "R-TARGET-SCHEMA", Configuration, false,
        "The app's schemas cannot be read",
        "The app's /Schemas, /ResourceTypes or /ServiceProviderConfig answer is not valid SCIM, or the URL points elsewhere.",
        "Check the SCIM URL, then ask the app's vendor; roster still syncs the core attributes, but cannot check mappings against the app.",
        ja "アプリのスキーマを読み取れません",
        "アプリの /Schemas、/ResourceTypes、/ServiceProviderConfig の応答が正しい SCIM ではないか、URL が別の場所を指しています。",
        "SCIM URL を確認し、アプリのベンダーに問い合わせてください。roster はコア属性の同期を続けますが、マッピングをアプリに照らして確認することはできません。";
    TARGET_API_DISABLED = "R-TARGET-API-DISABLED", Configuration, false,
        "The app's API is switched off",
        "The app (or the cloud project behind roster's credentials) has not enabled the API roster calls, or the account's edition cannot use APIs.",
        "Enable the API for the project or the domain in the app's admin console, wait a few minutes, then run roster app test NAME.",
        ja "アプリの API が無効になっています",
        "roster が呼び出す API がアプリ(または roster の認証情報が属するクラウドプロジェクト)で有効になっていないか、アカウントのエディションでは API を利用できません。",
        "アプリの管理コンソールでプロジェクトまたはドメインの API を有効にし、数分待ってから roster app test NAME を実行してください。";
    TARGET_NOT_INSTALLED = "R-TARGET-NOT-INSTALLED", Configuration, false,
        "The app is not set up for this organisation",
        "The app answered that it is not installed or provisioning is not configured on its side for this tenant.",
        "Install or enable the app for the organisation in its admin console, then run roster app test NAME.",
        ja "アプリがこの組織向けに設定されていません",
        "アプリがインストールされていない、またはこのテナントでアプリ側のプロビジョニングが設定されていないと、アプリが応答しました。",
        "アプリの管理コンソールで組織向けにアプリをインストールまたは有効化し、roster app test NAME を実行してください。";
    SCOPE_GROUP_MISSING = "R-SCOPE-GROUP-MISSING", Configuration, false,
        "A scope group does not exist",
        "The app's scope names a group that is not in the directory: it was deleted (scopes keep a group's id, so a rename does not matter).",
        "Fix the scope: roster app edit NAME --scope-group GROUP (a displayName or an id). Nobody is deprovisioned until it is fixed.",
        ja "スコープのグループが存在しません",
        "アプリのスコープに指定されたグループがディレクトリにありません。グループが削除されています(スコープはグループの ID を保持するため、名前の変更は影響しません)。",
        "スコープを修正してください: roster app edit NAME --scope-group GROUP(displayName または ID)。修正されるまで、誰のプロビジョニングも解除されません。";
    SCOPE_INVALID = "R-SCOPE-INVALID", Configuration, false,
        "The scope filter is not valid",
        "The app's scope filter is not a valid SCIM filter for Users.",
        "Fix the filter: roster app edit NAME --scope-filter FILTER (roster scim filter checks one).",
        ja "スコープのフィルターが正しくありません",
        "アプリのスコープフィルターが、ユーザーに対する有効な SCIM フィルターではありません。",
        "フィルターを修正してください: roster app edit NAME --scope-filter FILTER(roster scim filter で確認できます)。";
    MAPPING_INVALID = "R-MAPPING-INVALID", Configuration, false,
        "A mapping rule is not valid",
        "A mapping rule cannot be parsed, names an unknown function, or targets an attribute the app's schema lacks.",
        "Fix the rule: roster app edit NAME --map TARGET=EXPRESSION; roster app test NAME checks rules against the app.",
        ja "マッピングルールが正しくありません",
        "マッピングルールを解析できないか、未知の関数を使っているか、アプリのスキーマにない属性を対象にしています。",
        "ルールを修正してください: roster app edit NAME --map TARGET=EXPRESSION。roster app test NAME でルールをアプリに照らして確認できます。";
    APP_STALE = "R-APP-STALE", Configuration, false,
        "The app's settings changed meanwhile",
        "The change was made against an older version of the app's settings: someone else changed them since they were read.",
        "Read the current settings (roster app show NAME), then make the change again with the new --if-version.",
        ja "アプリの設定がその間に変更されました",
        "この変更は古いバージョンのアプリ設定に対して行われました。設定を読み込んだ後に、他の誰かが変更しています。",
        "現在の設定を確認し(roster app show NAME)、新しい --if-version を付けてもう一度変更してください。";
    TARGET_REDIRECT = "R-TARGET-REDIRECT", Configuration, false,
        "The app answered with a redirect",
        "The app's URL answered 3xx with another address. roster does not follow redirects: the request would carry the app's credential and people's data (a mapped password included) to an address nobody configured.",
        "If the new address is the app's, make it the app's URL: roster app edit NAME --scim-url URL. Otherwise ask the app's owner why it redirects.",
        ja "アプリがリダイレクトを返しました",
        "アプリの URL が、別のアドレスへの 3xx を返しました。roster はリダイレクトに従いません。従うと、アプリの認証情報と個人のデータ(マッピングされたパスワードを含む)を、誰も設定していないアドレスへ送ることになるためです。",
        "新しいアドレスがアプリのものであれば、それをアプリの URL にしてください: roster app edit NAME --scim-url URL。そうでなければ、リダイレクトする理由をアプリの管理者に確認してください。";
    SECRET_KEY = "R-SECRET-KEY", Configuration, false,
        "The key that seals credentials is missing or wrong",
        "roster keeps the apps' credentials sealed under a key in a file; that file is missing, unreadable, or holds another key than the one the credentials were sealed with.",
        "Start roster with the key file the credentials were sealed with (--secret-key-file or ROSTER_SECRET_KEY_FILE); if it is lost, store each app's credential again: roster app edit NAME --token-file FILE.",
        ja "認証情報を封印する鍵がないか、正しくありません",
        "roster はアプリの認証情報を、ファイルに保存した鍵で封印(暗号化)しています。そのファイルがない、読めない、または認証情報を封印したものとは別の鍵が入っています。",
        "認証情報を封印したときの鍵ファイルを指定して roster を起動してください(--secret-key-file または ROSTER_SECRET_KEY_FILE)。鍵を失った場合は、各アプリの認証情報を保存し直してください: roster app edit NAME --token-file FILE。";
    PROTECTED = "R-PROTECTED", Configuration, false,
        "The account is protected",
        "The account is on the app's protected list (such as the account roster connects with), so roster never disables or deletes it.",
        "Nothing to do. Remove it from the protected list if it really must be deprovisioned.",
        ja "保護されたアカウントです",
        "このアカウントはアプリの保護リストにあります(roster が接続に使うアカウントなど)。roster がこのアカウントを無効化したり削除したりすることはありません。",
        "対応は不要です。どうしてもプロビジョニングを解除する必要がある場合は、保護リストから外してください。";

    // Authentication: the app refused roster's credentials or their permissions.
    TARGET_AUTH_FAILED = "R-TARGET-AUTH", Authentication, false,
        "The app refused roster's credentials",
        "The app answered 401: the token is wrong, expired or revoked, or the OAuth2 client was refused.",
        "Create a new token in the app and store it: roster app edit NAME --token-file FILE.",
        ja "アプリが roster の認証情報を拒否しました",
        "アプリが 401 を返しました。トークンが間違っている、期限切れ、または失効しているか、OAuth2 クライアントが拒否されました。",
        "アプリで新しいトークンを作成し、保存してください: roster app edit NAME --token-file FILE。";
    TARGET_OAUTH_GRANT = "R-TARGET-OAUTH-GRANT", Authentication, false,
        "The OAuth2 grant was refused",
        "The token endpoint answered invalid_grant: the account or user id in the grant is wrong, or the authorisation or refresh token expired or was revoked.",
        "Check the account roster acts as, authorise again in the app, and store the new credential: roster app edit NAME --token-file FILE.",
        ja "OAuth2 のグラントが拒否されました",
        "トークンエンドポイントが invalid_grant を返しました。グラントに含まれるアカウントやユーザー ID が間違っているか、認可トークンまたはリフレッシュトークンが期限切れか取り消されています。",
        "roster が操作に使うアカウントを確認し、アプリで改めて認可して、新しい認証情報を保存してください: roster app edit NAME --token-file FILE。";
    TARGET_OAUTH_SCOPE = "R-TARGET-OAUTH-SCOPE", Authentication, false,
        "The OAuth2 client lacks a scope",
        "The OAuth2 client is not allowed the scopes roster asks for (unauthorized_client), or its permissions were revoked.",
        "Grant the client the scopes for users and groups (for Google: domain-wide delegation in the Admin console), or fix --oauth2-scope.",
        ja "OAuth2 クライアントのスコープが不足しています",
        "OAuth2 クライアントに、roster が要求するスコープが許可されていない(unauthorized_client)か、権限が取り消されています。",
        "クライアントにユーザーとグループのスコープを付与してください(Google の場合は管理コンソールでドメイン全体の委任を設定します)。または --oauth2-scope を修正してください。";
    TARGET_CLIENT_DELETED = "R-TARGET-CLIENT-DELETED", Authentication, false,
        "The OAuth2 client or its project was deleted",
        "The app says the OAuth2 client roster uses, or the cloud project that owns it, no longer exists.",
        "Create a new client (and project if needed) with the same scopes, then store it: roster app edit NAME --oauth2-client-id ID --token-file FILE (for Google Workspace: a new service account with domain-wide delegation, then roster app edit NAME --google-key-file FILE).",
        ja "OAuth2 クライアントまたはそのプロジェクトが削除されています",
        "roster が使う OAuth2 クライアント、またはそれを所有するクラウドプロジェクトがもう存在しないと、アプリが応答しました。",
        "同じスコープで新しいクライアント(必要ならプロジェクトも)を作成し、保存してください: roster app edit NAME --oauth2-client-id ID --token-file FILE(Google Workspace の場合は、ドメイン全体の委任を設定した新しいサービスアカウントを作成し、roster app edit NAME --google-key-file FILE)。";
    TARGET_FORBIDDEN = "R-TARGET-FORBIDDEN", Authentication, false,
        "The app does not allow this operation",
        "The app answered 403: the credentials are valid but lack a permission, or the account roster acts as was suspended, deleted or lost its admin role.",
        "Give the token or service account the right to manage users and groups, and check that the account roster acts as is active.",
        ja "アプリがこの操作を許可していません",
        "アプリが 403 を返しました。認証情報は有効ですが権限が不足しているか、roster が操作に使うアカウントが停止・削除されたか、管理者ロールを失っています。",
        "トークンまたはサービスアカウントにユーザーとグループを管理する権限を付与し、roster が操作に使うアカウントが有効であることを確認してください。";

    // Rejected: the app refused the data in one request.
    TARGET_REJECTED = "R-TARGET-REJECTED", Rejected, false,
        "The app rejected the data",
        "The app answered 400 (or another 4xx) for this account: something in the request is not acceptable to it.",
        "Read the app's message in roster log NAME --object ID, fix the value or the mapping, then sync again.",
        ja "アプリがデータを拒否しました",
        "このアカウントについて、アプリが 400(またはその他の 4xx)を返しました。リクエストの内容に、アプリが受け付けないものがあります。",
        "roster log NAME --object ID でアプリのメッセージを読み、値またはマッピングを修正してから、もう一度同期してください。";
    TARGET_INVALID_VALUE = "R-TARGET-INVALID-VALUE", Rejected, false,
        "A value is not acceptable to the app",
        "The app refused a value: too long, wrong format (for example a userName that must be an email address), or an id or licence it does not know.",
        "Fix the value in the directory or change the mapping (roster app preview NAME --user U shows what is sent).",
        ja "アプリが受け付けない値があります",
        "アプリが値を拒否しました。長すぎる、形式が違う(たとえば userName はメールアドレスでなければならない)、またはアプリが知らない ID やライセンスです。",
        "ディレクトリの値を修正するか、マッピングを変更してください(roster app preview NAME --user U で送信内容を確認できます)。";
    TARGET_MISSING_VALUE = "R-TARGET-MISSING-VALUE", Rejected, false,
        "A value the app requires is missing",
        "The app requires an attribute (or an entitlement) that roster did not send because the directory has no value or no mapping for it.",
        "Fill the attribute in the directory, or map it: roster app edit NAME --map 'ATTR=SOURCE' adds the rule to the app's mapping (default(SOURCE, \"value\") for users without one). roster app test NAME lists what the app requires that no rule maps; then roster retry NAME --code R-TARGET-MISSING-VALUE.",
        ja "アプリが必須とする値がありません",
        "アプリが必須とする属性(または権利)を、ディレクトリに値がないかマッピングがないため、roster が送信しませんでした。",
        "ディレクトリの属性に値を入れるか、マッピングしてください: roster app edit NAME --map 'ATTR=SOURCE' でアプリのマッピングにルールを追加できます(値のないユーザーには default(SOURCE, \"value\") を使います)。roster app test NAME は、アプリが必須としているのにどのルールもマッピングしていない属性を示します。その後 roster retry NAME --code R-TARGET-MISSING-VALUE を実行してください。";
    TARGET_ORG_UNIT = "R-TARGET-ORG-UNIT", Rejected, false,
        "The org unit does not exist in the app",
        "The account is placed in an org unit (or group path) the app does not have: the directory's and the app's org structures differ.",
        "Create the org unit in the app, or map the directory's org unit to one that exists (roster app edit NAME --map).",
        ja "アプリに組織部門が存在しません",
        "アカウントが、アプリにない組織部門(またはグループのパス)に配置されています。ディレクトリとアプリの組織構造が一致していません。",
        "アプリに組織部門を作成するか、ディレクトリの組織部門をアプリに存在する部門にマッピングしてください(roster app edit NAME --map)。";
    TARGET_MUTABILITY = "R-TARGET-MUTABILITY", Rejected, false,
        "The app does not allow changing this attribute",
        "The attribute is read-only or immutable in the app (scimType mutability), or the app's directory is locked to edits from this source.",
        "Stop mapping the attribute, or map it on create only (--map-on-create); unlock the app's directory if it is read-only on purpose.",
        ja "アプリがこの属性の変更を許可していません",
        "この属性はアプリで読み取り専用または変更不可(scimType mutability)か、アプリのディレクトリがこのソースからの編集に対してロックされています。",
        "この属性をマッピングしないか、作成時のみにしてください(--map-on-create)。意図して読み取り専用にしているのでなければ、アプリのディレクトリのロックを解除してください。";
    TARGET_UNSUPPORTED = "R-TARGET-UNSUPPORTED", Rejected, false,
        "The app does not support this request",
        "The app does not understand the request's form (an unsupported key type, path, filter or method such as PATCH).",
        "roster falls back where it can (PUT for PATCH); otherwise report the app's message to its vendor.",
        ja "アプリがこのリクエストをサポートしていません",
        "アプリがリクエストの形式(サポートされていないキーの種類、パス、フィルター、PATCH などのメソッド)を理解できません。",
        "roster は可能な場合は代わりの方法を使います(PATCH の代わりに PUT)。それ以外の場合は、アプリのメッセージをベンダーに報告してください。";
    TARGET_FILTER = "R-TARGET-FILTER", Rejected, true,
        "The app refused roster's search",
        "The app rejected the filter roster uses to find an existing account (invalidFilter), or said it matches too many (tooMany).",
        "roster retries attribute by attribute; if it persists, change the matching attributes: roster app edit NAME --matching userName.",
        ja "アプリが roster の検索を拒否しました",
        "既存のアカウントを探すために roster が使うフィルターをアプリが拒否した(invalidFilter)か、一致するものが多すぎると応答しました(tooMany)。",
        "roster は属性ごとに再試行します。解消しない場合は、照合に使う属性を変更してください: roster app edit NAME --matching userName。";
    TARGET_TOO_LARGE = "R-TARGET-TOO-LARGE", Rejected, false,
        "The request is too large for the app",
        "The app answered 413: the request (for example a group with many members) exceeds its size limit.",
        "Nothing to do for groups: roster sends member changes in smaller parts; otherwise shorten the values mapped.",
        ja "リクエストがアプリにとって大きすぎます",
        "アプリが 413 を返しました。リクエスト(たとえばメンバーの多いグループ)がアプリのサイズ上限を超えています。",
        "グループについては対応不要です。roster はメンバーの変更を小さく分けて送ります。それ以外は、マッピングする値を短くしてください。";
    TARGET_SENSITIVE = "R-TARGET-SENSITIVE", Rejected, false,
        "The app refuses sensitive data in this form",
        "The app answered scimType sensitive: the request carried sensitive data in a way it does not allow.",
        "Stop mapping the sensitive attribute (such as a password) to this app.",
        ja "アプリがこの形式の機密データを拒否しました",
        "アプリが scimType sensitive を返しました。リクエストに、アプリが許可しない形で機密データが含まれていました。",
        "この機密属性(パスワードなど)をこのアプリにマッピングしないでください。";
    TARGET_BAD_ANSWER = "R-TARGET-BAD-ANSWER", Transient, true,
        "The app's answer is not valid SCIM",
        "The app answered success but its body is not the SCIM resource it should return.",
        "roster retries; if it persists, report it to the app's vendor with the entry from roster log NAME.",
        ja "アプリの応答が正しい SCIM ではありません",
        "アプリは成功を返しましたが、本文が返すべき SCIM リソースではありません。",
        "roster が再試行します。解消しない場合は、roster log NAME のエントリを添えてアプリのベンダーに報告してください。";

    // Conflict: two accounts or identities collide.
    TARGET_UNIQUENESS = "R-TARGET-UNIQUENESS", Conflict, false,
        "The value is taken by another account",
        "The app answered 409 (or scimType uniqueness): another account already has this userName, email or externalId.",
        "roster looks for the account and links it; if that fails, rename or remove the other account in the app.",
        ja "値が別のアカウントで使われています",
        "アプリが 409(または scimType uniqueness)を返しました。別のアカウントが、すでにこの userName、メールアドレス、または externalId を持っています。",
        "roster がそのアカウントを探してリンクします。それに失敗した場合は、アプリで別のアカウントの名前を変更するか、削除してください。";
    TARGET_TAKEN_ELSEWHERE = "R-TARGET-TAKEN-ELSEWHERE", Conflict, false,
        "The value is used by something roster cannot link",
        "The app says the value exists, but no account it lists matches: it is an alias, a group's address, or an account outside roster's reach (unmanaged or in another organisation).",
        "Find the value in the app's admin console; remove the alias or group, or move the other account into the organisation, then sync again.",
        ja "値が roster ではリンクできないものに使われています",
        "値は存在するとアプリは応答していますが、一覧にあるどのアカウントとも一致しません。エイリアス、グループのアドレス、または roster の手の届かないアカウント(管理されていないアカウントや別の組織のアカウント)です。",
        "アプリの管理コンソールでその値を探し、エイリアスやグループを削除するか、別のアカウントを組織内に移動してから、もう一度同期してください。";
    MATCH_AMBIGUOUS = "R-MATCH-AMBIGUOUS", Conflict, false,
        "Several accounts match this identity",
        "More than one account in the app has the matching value, so roster cannot tell which is this identity's (often a duplicate left by an earlier tool).",
        "Remove or rename the extra accounts in the app, then sync again; roster creates nothing meanwhile.",
        ja "この ID に一致するアカウントが複数あります",
        "アプリに照合値の一致するアカウントが複数あるため、どれがこの ID のものか roster には判断できません(以前のツールが残した重複であることが多いです)。",
        "アプリで余分なアカウントを削除するか名前を変更してから、もう一度同期してください。それまで roster は何も作成しません。";
    MATCH_SETTING = "R-MATCH-SETTING", Conflict, false,
        "The app's matching does not look at the value the app found taken",
        "The app refused the create because an account already has a value (usually the userName), but the app's matching attributes (--matching) do not include it, so roster never found that account to link.",
        "Add the attribute to the matching, for example: roster app edit NAME --matching userName,emails.value; then roster retry NAME --code R-MATCH-SETTING.",
        ja "アプリの照合設定が、使用済みとされた値を見ていません",
        "既に値(通常は userName)を持つアカウントがあるためにアプリが作成を拒否しましたが、アプリの照合属性(--matching)にその属性が含まれていないため、roster はリンクすべきアカウントを見つけられませんでした。",
        "照合に属性を追加してください。例: roster app edit NAME --matching userName,emails.value。その後 roster retry NAME --code R-MATCH-SETTING を実行してください。";
    ACCOUNT_CLAIMED = "R-ACCOUNT-CLAIMED", Conflict, false,
        "The matching account belongs to another identity",
        "The account that matches this identity is already linked to another directory object.",
        "Two identities share a matching value (userName or email): correct one of them in the directory.",
        ja "一致したアカウントは別の ID のものです",
        "この ID に一致するアカウントは、既に別のディレクトリオブジェクトにリンクされています。",
        "2 つの ID が照合値(userName またはメールアドレス)を共有しています。ディレクトリでどちらかを修正してください。";

    // Not found.
    TARGET_NOT_FOUND = "R-TARGET-NOT-FOUND", NotFound, false,
        "The account is gone from the app",
        "The app answered 404 for an account roster had linked: someone deleted it in the app.",
        "Nothing to do: roster matches again or creates the account, as the app's stale-link policy says; a delete of a missing account is done.",
        ja "アカウントがアプリから消えています",
        "roster がリンクしていたアカウントについて、アプリが 404 を返しました。誰かがアプリでそのアカウントを削除しています。",
        "対応は不要です。アプリのリンク切れポリシーに従って、roster が照合し直すかアカウントを作成します。存在しないアカウントの削除は完了として扱います。";
    TARGET_INACTIVE = "R-TARGET-INACTIVE", NotFound, true,
        "The account is deactivated in the app",
        "The app refused a change because the account is deactivated there, while the identity is in the app's scope.",
        "Nothing to do: roster reactivates the account (active: true) and sends the change again.",
        ja "アカウントがアプリで無効になっています",
        "ID はアプリのスコープ内にあるのに、アカウントがアプリで無効化されているため、アプリが変更を拒否しました。",
        "対応は不要です。roster がアカウントを再び有効化(active: true)して、変更を送り直します。";

    // Limit.
    TARGET_LIMIT = "R-TARGET-LIMIT", Limit, true,
        "The app is out of licences or quota",
        "The app refused the account because a licence or user limit is reached (suspended accounts often still hold a licence).",
        "Free or buy licences in the app; roster keeps the account pending and tries again later.",
        ja "アプリのライセンスまたはクォータが足りません",
        "ライセンスまたはユーザー数の上限に達したため、アプリがアカウントを拒否しました(停止中のアカウントがライセンスを持ったままのことがよくあります)。",
        "アプリでライセンスを空けるか購入してください。roster はアカウントを保留にして、後で再試行します。";
    GUARD_DEPROVISIONS = "R-GUARD-DEPROVISIONS", Limit, false,
        "Too many deprovisions at once; held for approval",
        "More accounts would be disabled or deleted than the app's threshold allows (count or share of its accounts), as when a source or scope shrinks by mistake.",
        "Check why so many identities left (roster approve NAME --list lists them); run roster approve NAME to go ahead, or roster approve NAME --discard.",
        ja "一度に多すぎるプロビジョニング解除を、承認待ちで保留しました",
        "アプリのしきい値(件数、またはアカウントに対する割合)を超える数のアカウントが無効化または削除されようとしています。ソースやスコープを誤って縮小したときに起こります。",
        "なぜこれほど多くの ID が外れたのかを確認してください(roster approve NAME --list で一覧できます)。続行するには roster approve NAME、取りやめるには roster approve NAME --discard を実行してください。";

    // Transient.
    TARGET_UNREACHABLE = "R-TARGET-UNREACHABLE", Transient, true,
        "The app cannot be reached",
        "roster could not open a connection to the app's SCIM URL, or the connection broke or timed out.",
        "Check the SCIM URL (roster app show NAME) and that the app is up; roster retries with growing delays.",
        ja "アプリに接続できません",
        "roster はアプリの SCIM URL への接続を開けなかったか、接続が切れたかタイムアウトしました。",
        "SCIM URL(roster app show NAME)と、アプリが稼働していることを確認してください。roster は間隔を広げながら再試行します。";
    TARGET_UNAVAILABLE = "R-TARGET-UNAVAILABLE", Transient, true,
        "The app failed to answer",
        "The app answered with a server error (5xx) or said it is temporarily unavailable.",
        "Nothing to do if it passes; roster retries with growing delays. If it persists, contact the app's vendor.",
        ja "アプリが応答できませんでした",
        "アプリがサーバーエラー(5xx)を返したか、一時的に利用できないと応答しました。",
        "一時的なものであれば対応は不要です。roster は間隔を広げながら再試行します。続く場合はアプリのベンダーに連絡してください。";
    TARGET_VERSION = "R-TARGET-VERSION", Transient, true,
        "The account changed in the app meanwhile",
        "The app refused the change because the account's version moved on since roster read it (412 or scimType invalidVers).",
        "Nothing to do: roster reads the account again and sends the change.",
        ja "その間にアプリでアカウントが変更されました",
        "roster が読み込んだ後にアカウントのバージョンが進んでいたため、アプリが変更を拒否しました(412 または scimType invalidVers)。",
        "対応は不要です。roster がアカウントを読み直して、変更を送ります。";
    APP_QUARANTINED = "R-APP-QUARANTINED", Transient, true,
        "The app is quarantined",
        "Too many of roster's requests to the app failed in a short time (or its credentials were refused repeatedly), so roster paused the app instead of adding to the failures.",
        "Fix the cause named in roster app show NAME; roster probes at growing intervals and resumes by itself, or release it now: roster app release NAME.",
        ja "アプリが強制隔離されています",
        "短時間にアプリへの roster のリクエストが多数失敗した(または認証情報が繰り返し拒否された)ため、roster は失敗を重ねる代わりにアプリへの送信を一時停止しました。",
        "roster app show NAME に示された原因を修正してください。roster は間隔を広げながら確認し、自動で再開します。すぐに再開するには roster app release NAME を実行してください。";

    // Rate limit.
    TARGET_RATE_LIMITED = "R-TARGET-RATE-LIMITED", RateLimit, true,
        "The app asked roster to slow down",
        "The app answered 429 (or a rate or quota limit message), possibly with a Retry-After time.",
        "Nothing to do: roster waits as long as the app asks before sending it anything; lower --rate if it happens often.",
        ja "アプリが roster に送信の速度を落とすよう求めました",
        "アプリが 429(またはレート制限・クォータ制限のメッセージ)を返しました。Retry-After で待つ時間が示されることがあります。",
        "対応は不要です。roster はアプリが求める時間だけ待ってから送信します。頻繁に起こる場合は --rate を下げてください。";
    CLIENT_SLOWED = "R-CLIENT-SLOWED", RateLimit, true,
        "roster refuses this client for a while (inbound quarantine)",
        "Too many of this client's recent requests to roster's SCIM API failed by its own mistake (the share and the window are in the message), so every roster process answers its calls 429 with Retry-After until the time given, then accepts them on probation; failing again on probation refuses it for longer.",
        "Read the errors the client got (they name the cause) and fix them in the client (its mapping, its data). roster client show NAME says why and until when; roster client release NAME ends it at once.",
        ja "roster はこのクライアントをしばらく拒否しています(受信側の強制隔離)",
        "このクライアントから roster の SCIM API への最近のリクエストで、クライアント自身の誤りによる失敗が多すぎました(割合と期間はメッセージにあります)。そのため、すべての roster プロセスが、示された時刻まで 429 と Retry-After で応答し、その後は保護観察として受け付けます。保護観察中にまた失敗が続くと、より長く拒否されます。",
        "クライアントが受け取ったエラー(原因が示されています)を読み、クライアント側(マッピングやデータ)で修正してください。roster client show NAME で理由と期限を確認でき、roster client release NAME ですぐに解除できます。";

    // An admin's request (the CLI, the admin API).
    ADMIN_NOT_FOUND = "R-ADMIN-NOT-FOUND", NotFound, false,
        "What the request names does not exist",
        "The app, client, user, group or code named in the command or API request is not in roster (a typo, or it was removed).",
        "Check the name: roster app list, roster client list and roster log NAME --failures list what exists.",
        ja "リクエストで指定したものが存在しません",
        "コマンドまたは API リクエストで指定したアプリ、クライアント、ユーザー、グループ、コードが roster にありません(入力ミスか、削除されています)。",
        "名前を確認してください: roster app list、roster client list、roster log NAME --failures で存在するものを一覧できます。";
    ADMIN_INVALID = "R-ADMIN-INVALID", Configuration, false,
        "The request is not valid",
        "A value given to the command or the API request is not one it takes; the message names the value and what it should be.",
        "Correct the value as the message says and send the request again.",
        ja "リクエストが正しくありません",
        "コマンドまたは API リクエストに指定した値が受け付けられない値です。メッセージに、その値とあるべき形が示されています。",
        "メッセージのとおりに値を直して、もう一度リクエストしてください。";
    ADMIN_CONFLICT = "R-ADMIN-CONFLICT", Conflict, false,
        "The request conflicts with what roster holds",
        "The name given is taken already, or what the request changes was changed by someone else since it was read.",
        "Choose another name, or read the current settings again and repeat the change on them.",
        ja "リクエストが roster の現在の状態と衝突しています",
        "指定した名前はすでに使われているか、変更しようとした内容が読み込んだ後に別の人によって変更されています。",
        "別の名前を選ぶか、現在の設定を読み込み直して、その上でもう一度変更してください。";

    // Internal.
    INTERNAL = "R-INTERNAL", Internal, true,
        "roster failed",
        "roster's own database or code failed while syncing.",
        "Look at roster's log; roster retries the object.",
        ja "roster 自身が失敗しました",
        "同期中に、roster 自身のデータベースまたはコードが失敗しました。",
        "roster のログを確認してください。roster はこのオブジェクトを再試行します。";
}

impl Category {
    /// The category's name in plain words, in `lang`.
    pub const fn name_in(self, lang: Lang) -> &'static str {
        match lang {
            Lang::En => self.name(),
            Lang::Ja => match self {
                Self::Configuration => "設定",
                Self::Authentication => "認証",
                Self::Rejected => "送信先が拒否",
                Self::Conflict => "競合",
                Self::NotFound => "見つからない",
                Self::Limit => "上限",
                Self::Transient => "一時的",
                Self::RateLimit => "レート制限",
                Self::Internal => "内部",
            },
        }
    }

    /// The category's name in plain words.
    pub const fn name(self) -> &'static str {
        match self {
            Self::Configuration => "configuration",
            Self::Authentication => "authentication",
            Self::Rejected => "rejected by target",
            Self::Conflict => "conflict",
            Self::NotFound => "not found",
            Self::Limit => "limit",
            Self::Transient => "transient",
            Self::RateLimit => "rate limit",
            Self::Internal => "internal",
        }
    }
}

/// The code for a code string.
pub fn find(code: &str) -> Option<&'static Code> {
    ALL.iter().find(|c| c.code.eq_ignore_ascii_case(code))
}

/// The code for a target's HTTP answer: its status, SCIM `scimType` and message.
pub fn classify(status: u16, scim_type: Option<&str>, detail: &str) -> &'static Code {
    classify_full(status, scim_type, None, detail)
}

/// The code for a target's answer, with the machine-readable reason some APIs give besides SCIM's `scimType`
/// (Google's `error.errors[].reason`, OAuth2's `error`). Reason first, then `scimType`, then words in the message
/// that name a cause, then the bare status. Status 0 means no answer at all.
pub fn classify_full(
    status: u16,
    scim_type: Option<&str>,
    reason: Option<&str>,
    detail: &str,
) -> &'static Code {
    if let Some(code) = reason.and_then(|r| by_reason(r, detail)) {
        return code;
    }
    if let Some(code) = scim_type.and_then(|t| by_scim_type(t, detail)) {
        return code;
    }
    if let Some(code) = by_words(status, detail) {
        return code;
    }
    match status {
        0 => &TARGET_UNREACHABLE,
        401 => &TARGET_AUTH_FAILED,
        403 => &TARGET_FORBIDDEN,
        404 | 410 => &TARGET_NOT_FOUND,
        409 => &TARGET_UNIQUENESS,
        412 => &TARGET_VERSION,
        413 => &TARGET_TOO_LARGE,
        429 => &TARGET_RATE_LIMITED,
        405 | 501 => &TARGET_UNSUPPORTED,
        s if s >= 500 => &TARGET_UNAVAILABLE,
        _ => &TARGET_REJECTED,
    }
}

fn by_reason(reason: &str, detail: &str) -> Option<&'static Code> {
    Some(match reason {
        "rateLimitExceeded" | "userRateLimitExceeded" | "quotaExceeded" | "rateLimited" => {
            &TARGET_RATE_LIMITED
        }
        "limitExceeded" => &TARGET_LIMIT,
        "duplicate" => &TARGET_UNIQUENESS,
        "notFound" => &TARGET_NOT_FOUND,
        "conditionNotMet" => &TARGET_VERSION,
        "invalid_grant" => &TARGET_OAUTH_GRANT,
        "unauthorized_client" | "invalid_scope" => &TARGET_OAUTH_SCOPE,
        "deleted_client" => &TARGET_CLIENT_DELETED,
        "invalid_client" | "authError" | "unauthorized" => &TARGET_AUTH_FAILED,
        "domainCannotUseApis" | "accessNotConfigured" => &TARGET_API_DISABLED,
        "backendError" | "internalError" => &TARGET_UNAVAILABLE,
        "forbidden" | "insufficientPermissions" => {
            return Some(by_words(403, detail).unwrap_or(&TARGET_FORBIDDEN));
        }
        _ => return None,
    })
}

fn by_scim_type(scim_type: &str, detail: &str) -> Option<&'static Code> {
    Some(match scim_type {
        "uniqueness" => &TARGET_UNIQUENESS,
        "mutability" => &TARGET_MUTABILITY,
        "invalidFilter" | "tooMany" => &TARGET_FILTER,
        "invalidVers" => &TARGET_VERSION,
        "sensitive" => &TARGET_SENSITIVE,
        "invalidPath" | "noTarget" => &TARGET_UNSUPPORTED,
        "invalidValue" => by_words(400, detail).unwrap_or(&TARGET_INVALID_VALUE),
        _ => return None,
    })
}

/// Words in a message that name a cause more precisely than its status does.
fn by_words(status: u16, detail: &str) -> Option<&'static Code> {
    let d = detail.to_ascii_lowercase();
    let has = |words: &[&str]| words.iter().any(|w| d.contains(w));
    if d.is_empty() {
        return None;
    }
    let code = if has(&["licen", "limit exceeded", "limitexceeded", "user limit", "seat"]) {
        &TARGET_LIMIT
    } else if has(&["rate limit", "too many requests"]) {
        &TARGET_RATE_LIMITED
    } else if has(&[
        "invalid_ou_id",
        "org unit",
        "orgunit",
        "organizational unit",
        "organizationalunit",
    ]) {
        &TARGET_ORG_UNIT
    } else if has(&["cannot suspend self", "cannot delete self"]) {
        &PROTECTED
    } else if has(&["no user returned for user"]) {
        &TARGET_NOT_FOUND
    } else if status != 401
        && has(&[
            "account is inactive",
            "user is inactive",
            "deactivated user",
            "user is deactivated",
        ])
    {
        &TARGET_INACTIVE
    } else if has(&["has been deleted", "deleted_client", "client was deleted"]) {
        &TARGET_CLIENT_DELETED
    } else if has(&[
        "has not been used in project",
        "cannot use apis",
        "api has not been enabled",
        "it is disabled",
    ]) {
        &TARGET_API_DISABLED
    } else if has(&["not installed"]) {
        &TARGET_NOT_INSTALLED
    } else if (400..500).contains(&status)
        && has(&["already exists", "duplicate", "not unique", "must be unique"])
    {
        &TARGET_UNIQUENESS
    } else if (400..500).contains(&status)
        && has(&[
            "too long",
            "invalid license",
            "doesn't exist",
            "does not exist",
            "primary_user_email",
            "invalid scim",
        ])
    {
        &TARGET_INVALID_VALUE
    } else if (400..500).contains(&status) && has(&["required", "missing", "must have at least one"]) {
        &TARGET_MISSING_VALUE
    } else if (400..500).contains(&status) && has(&["not supported", "unsupported"]) {
        &TARGET_UNSUPPORTED
    } else if (400..500).contains(&status) && has(&["read-only", "readonly", "immutable"]) {
        &TARGET_MUTABILITY
    } else {
        return None;
    };
    Some(code)
}

/// A target's error answer, read from its body: SCIM errors (`scimType`, `detail`), Google's
/// (`error.errors[].reason`, `error.message`), OAuth2 token errors (`error`, `error_description`) or plain text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Answer {
    /// The HTTP status (the body's `status` when the caller passes 0 and the body has one).
    pub status: u16,
    /// SCIM's `scimType`.
    pub scim_type: Option<String>,
    /// A machine-readable reason besides `scimType` (Google, OAuth2).
    pub reason: Option<String>,
    /// The message, as the target wrote it.
    pub detail: String,
}

impl Answer {
    /// Reads an error body. Anything that is not JSON is kept as the message.
    pub fn read(status: u16, body: &str) -> Self {
        let json: Option<serde_json::Value> = serde_json::from_str(body.trim()).ok();
        let Some(j) = json.filter(serde_json::Value::is_object) else {
            return Self {
                status,
                scim_type: None,
                reason: None,
                detail: body.trim().to_owned(),
            };
        };
        let text = |v: Option<&serde_json::Value>| v.and_then(serde_json::Value::as_str).map(str::to_owned);
        let body_status = j
            .get("status")
            .and_then(|s| s.as_u64().or_else(|| s.as_str().and_then(|s| s.parse().ok())))
            .or_else(|| j.pointer("/error/code").and_then(serde_json::Value::as_u64))
            .and_then(|s| u16::try_from(s).ok());
        let reason = text(j.pointer("/error/errors/0/reason"))
            .or_else(|| text(j.get("error")).filter(|e| !e.contains(' ')));
        let detail = text(j.get("detail"))
            .or_else(|| text(j.pointer("/error/message")))
            .or_else(|| text(j.get("error_description")))
            .or_else(|| text(j.get("message")))
            .or_else(|| text(j.pointer("/errors/0/message")))
            .or_else(|| text(j.get("error")))
            .unwrap_or_default();
        Self {
            status: if status == 0 {
                body_status.unwrap_or(0)
            } else {
                status
            },
            scim_type: text(j.get("scimType")),
            reason,
            detail,
        }
    }

    /// The roster code for this answer.
    pub fn code(&self) -> &'static Code {
        classify_full(
            self.status,
            self.scim_type.as_deref(),
            self.reason.as_deref(),
            &self.detail,
        )
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn codes_are_unique_and_complete() {
        let mut seen = std::collections::HashSet::new();
        for c in ALL {
            assert!(seen.insert(c.code), "duplicate {}", c.code);
            assert!(c.code.starts_with("R-"));
            assert!(!c.cause.is_empty() && !c.fix.is_empty() && !c.title.is_empty());
            assert!(c.cause.ends_with('.') && c.fix.ends_with('.'), "{}", c.code);
        }
        assert_eq!(find("r-match-ambiguous").unwrap().code, MATCH_AMBIGUOUS.code);
    }

    /// Every code reads in Japanese too: sentences that end as Japanese ones do, and every command, flag and code
    /// the English fix names is named in the Japanese fix as well, so an admin reading either can type it.
    #[test]
    fn every_code_is_written_in_japanese_with_the_same_commands() {
        let is_japanese = |s: &str| {
            s.chars()
                .any(|c| ('\u{3040}'..='\u{30ff}').contains(&c) || ('\u{4e00}'..='\u{9fff}').contains(&c))
        };
        for c in ALL {
            let ja = c.texts(Lang::Ja);
            assert!(
                is_japanese(ja.title) && is_japanese(ja.cause) && is_japanese(ja.fix),
                "{}",
                c.code
            );
            assert!(ja.cause.ends_with('。') && ja.fix.ends_with('。'), "{}", c.code);
            let words = |s: &'static str| -> Vec<&'static str> {
                s.split(|ch: char| ch.is_whitespace() || matches!(ch, '(' | ')' | ',' | ';' | ':' | '\''))
                    .map(|w| w.trim_end_matches('.'))
                    .filter(|w| w.starts_with("--") || w.starts_with("R-") || w.starts_with("/"))
                    .collect()
            };
            for w in words(c.fix) {
                assert!(ja.fix.contains(w), "{}: the Japanese fix lacks {w}", c.code);
            }
            let subcommands = [
                "app",
                "sync",
                "provision",
                "log",
                "import",
                "retry",
                "approve",
                "explain",
                "secrets",
                "audit",
                "client",
                "token",
                "scim",
                "serve",
            ];
            let commands = c.fix.match_indices("roster ").filter_map(|(i, _)| {
                let words: Vec<&str> = c.fix[i..].split_whitespace().take(3).collect();
                subcommands
                    .contains(&words.get(1).copied().unwrap_or_default())
                    .then(|| {
                        words
                            .into_iter()
                            .take_while(|w| w.chars().all(|ch| ch.is_ascii_lowercase()))
                            .collect::<Vec<_>>()
                            .join(" ")
                    })
            });
            for cmd in commands {
                assert!(
                    ja.fix.contains(&cmd),
                    "{}: the Japanese fix lacks '{cmd}'",
                    c.code
                );
            }
            assert_eq!(c.texts(Lang::En).title, c.title);
            assert_eq!(c.to_json_in(Lang::Ja)["title"], ja.title);
        }
        assert_eq!(Category::Conflict.name_in(Lang::Ja), "競合");
    }

    #[test]
    fn languages_come_from_tags_headers_and_the_environment() {
        assert_eq!(Lang::parse("ja_JP.UTF-8"), Some(Lang::Ja));
        assert_eq!(Lang::parse("ja-JP"), Some(Lang::Ja));
        assert_eq!(Lang::parse("C.UTF-8"), Some(Lang::En));
        assert_eq!(Lang::parse("fr_FR"), None);
        assert_eq!(
            Lang::from_accept_language("fr-CH, fr;q=0.9, ja;q=0.8, en;q=0.7"),
            Lang::Ja
        );
        assert_eq!(Lang::from_accept_language("en;q=0.9, ja;q=0.1"), Lang::En);
        assert_eq!(Lang::from_accept_language("ja;q=0, de"), Lang::En);
        assert_eq!(Lang::from_accept_language(""), Lang::En);
        let env = |vars: &'static [(&'static str, &'static str)]| {
            move |k: &str| vars.iter().find(|(n, _)| *n == k).map(|(_, v)| (*v).to_owned())
        };
        assert_eq!(Lang::from_env(env(&[("LANG", "ja_JP.UTF-8")])), Lang::Ja);
        assert_eq!(
            Lang::from_env(env(&[("LANG", "ja_JP.UTF-8"), ("LC_ALL", "C")])),
            Lang::En
        );
        assert_eq!(
            Lang::from_env(env(&[("LANG", "C"), ("ROSTER_LANG", "ja")])),
            Lang::Ja
        );
        assert_eq!(Lang::from_env(env(&[])), Lang::En);
    }

    #[test]
    fn answers_are_classified() {
        assert_eq!(classify(401, None, "").code, TARGET_AUTH_FAILED.code);
        assert_eq!(
            classify(409, Some("uniqueness"), "exists").code,
            TARGET_UNIQUENESS.code
        );
        assert_eq!(
            classify(412, None, "limitExceeded: domain user limit").code,
            TARGET_LIMIT.code
        );
        assert_eq!(
            classify(400, None, "license limit reached").code,
            TARGET_LIMIT.code
        );
        assert_eq!(
            classify(400, Some("invalidValue"), "bad").code,
            TARGET_INVALID_VALUE.code
        );
        assert_eq!(classify(400, None, "bad").code, TARGET_REJECTED.code);
        assert_eq!(classify(400, Some("mutability"), "").code, TARGET_MUTABILITY.code);
        assert_eq!(classify(400, Some("invalidFilter"), "").code, TARGET_FILTER.code);
        assert_eq!(classify(412, None, "").code, TARGET_VERSION.code);
        assert_eq!(
            classify(400, None, "User account is inactive").code,
            TARGET_INACTIVE.code
        );
        assert_eq!(classify(0, None, "").code, TARGET_UNREACHABLE.code);
        assert_eq!(
            classify(400, None, "displayName is required").code,
            TARGET_MISSING_VALUE.code
        );
        // Google's reasons and OAuth2 errors, read from their bodies.
        let google = r#"{"error":{"code":403,"message":"Rate Limit Exceeded","errors":[{"reason":"userRateLimitExceeded"}]}}"#;
        assert_eq!(Answer::read(403, google).code().code, TARGET_RATE_LIMITED.code);
        let quota =
            r#"{"error":{"code":403,"message":"Quota exceeded","errors":[{"reason":"quotaExceeded"}]}}"#;
        assert_eq!(Answer::read(403, quota).code().code, TARGET_RATE_LIMITED.code);
        let licence = r#"{"error":{"code":412,"message":"Domain user limit reached.","errors":[{"reason":"limitExceeded"}]}}"#;
        assert_eq!(Answer::read(412, licence).code().code, TARGET_LIMIT.code);
        let oauth = r#"{"error":"invalid_grant","error_description":"Invalid email or User ID"}"#;
        let a = Answer::read(400, oauth);
        assert_eq!(
            (a.code().code, a.detail.as_str()),
            (TARGET_OAUTH_GRANT.code, "Invalid email or User ID")
        );
        let scim = r#"{"schemas":["urn:ietf:params:scim:api:messages:2.0:Error"],"status":"409","scimType":"uniqueness","detail":"taken"}"#;
        let a = Answer::read(0, scim);
        assert_eq!((a.status, a.code().code), (409, TARGET_UNIQUENESS.code));
        assert_eq!(
            Answer::read(502, "<html>bad gateway</html>").code().code,
            TARGET_UNAVAILABLE.code
        );
        assert_eq!(classify(429, None, "").code, TARGET_RATE_LIMITED.code);
        assert_eq!(classify(503, None, "").code, TARGET_UNAVAILABLE.code);
        assert_eq!(classify(404, None, "").code, TARGET_NOT_FOUND.code);
        let retryable: Vec<_> = ALL.iter().filter(|c| c.retryable).map(|c| c.code).collect();
        assert!(retryable.contains(&"R-TARGET-UNAVAILABLE") && !retryable.contains(&"R-TARGET-REJECTED"));
    }
}
