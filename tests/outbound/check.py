"""Drives the outbound test: writes to roster's directory over SCIM, runs `roster sync`, reads the app."""
import json
import subprocess
import sys
import urllib.request

src, src_token, app, app_token, roster, db = sys.argv[1:7]


def call(base, token, method, path, body=None):
    data = json.dumps(body).encode() if body is not None else None
    req = urllib.request.Request(base + path, data=data, method=method)
    req.add_header("Authorization", "Bearer " + token)
    req.add_header("Content-Type", "application/scim+json")
    with urllib.request.urlopen(req) as r:
        text = r.read()
        return json.loads(text) if text else None


def sync(*extra):
    out = subprocess.run([roster, "sync", "s2", *extra, "--database", db], capture_output=True, text=True)
    print(out.stdout, out.stderr, end="")
    if out.returncode != 0:
        sys.exit(f"roster sync {' '.join(extra)} failed")
    return out.stdout


def app_users():
    return {u["userName"]: u for u in call(app, app_token, "GET", "/Users?count=1000").get("Resources", [])}


def check(cond, what):
    if not cond:
        sys.exit("FAILED: " + what)
    print("ok:", what)


ids = {}
for i in range(20):
    u = call(src, src_token, "POST", "/Users", {
        "schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"],
        "userName": f"user{i}@example.com",
        "name": {"givenName": "User", "familyName": str(i)},
        "displayName": f"User {i}",
        "emails": [{"value": f"user{i}@example.com", "type": "work", "primary": True}],
    })
    ids[i] = u["id"]

sync("--full")
users = app_users()
check(len(users) == 20, "20 accounts created in scim2-server")
check(users["user3@example.com"]["externalId"] == ids[3], "externalId is the directory id")
check(sync("--full", "--dry-run").strip() == "", "a full dry run after the sync plans nothing")

call(src, src_token, "PATCH", f"/Users/{ids[3]}", {
    "schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"],
    "Operations": [{"op": "replace", "path": "title", "value": "Captain"}],
})
call(src, src_token, "DELETE", f"/Users/{ids[4]}")
sync()
users = app_users()
check(users["user3@example.com"].get("title") == "Captain", "a change reaches the app")
check(users["user4@example.com"]["active"] is False, "a deleted identity is disabled")

u = call(src, src_token, "POST", "/Users", {
    "schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"],
    "userName": "user4@example.com",
    "emails": [{"value": "user4@example.com", "primary": True}],
})
sync()
users = app_users()
check(len(users) == 20 and users["user4@example.com"]["active"] is True,
      "the identity that came back gets its old account back, reactivated")
check(sync("--full", "--dry-run").strip() == "", "still nothing to do")
print("outbound: 6 passed, 0 failed")
