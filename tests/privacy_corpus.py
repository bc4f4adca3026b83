"""Planted FAKE secrets, built in code in each provider's valid format (never a real
key: random characters from a fixed seed), and near-misses that must not be
flagged. Shared by tests/test_privacy*.py; the lead's MCP test can reuse
``planted_secrets`` and ``assert_no_secret``."""

from __future__ import annotations

import base64
import json
import random
import string
import uuid
from pathlib import Path

_R = random.Random(2024)
ALNUM = string.ascii_letters + string.digits


def _s(n: int, chars: str = ALNUM) -> str:
    return "".join(_R.choice(chars) for _ in range(n))


UP = string.ascii_uppercase + string.digits
# kind -> (text carrying it, the secret value)
SECRETS: dict[str, tuple[str, str]] = {}


def _plant(kind: str, value: str, template: str = "{}") -> None:
    SECRETS[kind] = (template.format(value), value)


_plant("aws-access-key", "AKIA" + _s(16, UP), "export AWS_ACCESS_KEY_ID={}")
_plant("secret-assignment", _s(40, ALNUM + "/+"), "AWS_SECRET_ACCESS_KEY={}")
_plant("github-token", "ghp_" + _s(36), "git clone https://github.com/x/y (token {})")
_plant("github-fine-grained", "github_pat_" + _s(22) + "_" + _s(59), "GH={} ")
_plant("gitlab-token", "glpat-" + _s(20, ALNUM + "-_"), "gitlab token: {}")
_plant("slack-token", "xoxb-" + _s(11, string.digits) + "-" + _s(13, string.digits) + "-" + _s(24), "slack {}")
_plant("stripe-key", "sk_live_" + _s(24), "stripe.api_key = '{}'")
_plant("openai-key", "sk-proj-" + _s(48, ALNUM + "-_") + "T3BlbkFJ" + _s(20), "OPENAI {} ok")
_plant("anthropic-key", "sk-ant-api03-" + _s(93, ALNUM + "-_") + "AA", "use {} here")
_plant("google-api-key", "AIza" + _s(35, ALNUM + "-_"), "maps key={}&q=1")
_plant(
    "jwt",
    "eyJhbGciOiJIUzI1NiJ9." + base64.urlsafe_b64encode(b'{"sub":"42"}').decode().rstrip("=") + "." + _s(43),
    "Authorization: Bearer {}",
)
_plant("url-password", _s(14), "postgres://admin:{}@db.internal:5432/app")
_plant(
    "azure-storage-key",
    _s(86, ALNUM + "+/") + "==",
    "DefaultEndpointsProtocol=https;AccountName=x;AccountKey={};EndpointSuffix=core.windows.net",
)
_KEY_BODY = "\\n".join(_s(64, ALNUM + "+/") for _ in range(6))
_plant(
    "gcp-service-account-key",
    f"-----BEGIN PRIVATE KEY-----\\n{_KEY_BODY}\\n-----END PRIVATE KEY-----\\n",
    '{{"type": "service_account", "private_key": "{}", "client_email": "a@b.iam.gserviceaccount.com"}}',
)
_PEM = (
    "-----BEGIN RSA PRIVATE KEY-----\n"
    + "\n".join(_s(64, ALNUM + "+/") for _ in range(8))
    + "\n-----END RSA PRIVATE KEY-----"
)
_plant("private-key", _PEM, "here is the key:\n{}\nkeep it safe")
_plant("password-assignment", _s(6) + "#" + _s(9), "DB_PASSWORD={}")

NEAR_MISSES = [
    f"request id {uuid.UUID(int=_R.getrandbits(128))}",
    f"commit {_s(40, '0123456789abcdef')} fixed it",
    f'{{"id": "{_s(40, "0123456789abcdef")}"}}',
    "data:image/png;base64," + base64.b64encode(bytes(_R.getrandbits(8) for _ in range(600))).decode(),
    "the AWS docs use AKIAIOSFODNN7EXAMPLE and wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY",
    "token = get_token()",
    "api_key = settings.api_key",
    "set PASSWORD to your-password-here",
    "the key is in the file; a token budget of 4096",
    "sha256:" + _s(64, "0123456789abcdef"),
]


def planted_secrets() -> list[str]:
    return [v for _, v in SECRETS.values()]


def _pieces() -> list[str]:
    return [t for t, _ in SECRETS.values()]


def write_claude_code(folder: Path) -> Path:
    """A Claude Code session holding every planted secret, spread over user text,
    assistant text, thinking, tool input and tool output."""
    pieces = _pieces()
    sid = "5e1f0c4a-1111-4a7b-8e9f-0a1b2c3d4e5f"
    base = {
        "isSidechain": False,
        "userType": "external",
        "cwd": "/home/dev/proj",
        "sessionId": sid,
        "version": "1.0.95",
    }
    recs, parent, n = [], None, 0

    def add(kind: str, message: dict) -> None:
        nonlocal parent, n
        n += 1
        u = f"00000000-0000-4000-8000-{n:012d}"
        recs.append({**base, "parentUuid": parent, "type": kind, "message": message, "uuid": u,
                     "timestamp": f"2026-02-11T18:{n:02d}:00.000Z"})  # fmt: skip
        parent = u

    for i, p in enumerate(pieces):
        where = i % 5
        tid = f"toolu_{i:04d}"
        if where == 0:
            add("user", {"role": "user", "content": f"uniqueprompt{i} please check {p}"})
        elif where == 1:
            add(
                "assistant",
                {"role": "assistant", "model": "claude-x", "content": [{"type": "text", "text": f"Found {p}"}]},
            )
        elif where == 2:
            add(
                "assistant",
                {
                    "role": "assistant",
                    "model": "claude-x",
                    "content": [{"type": "thinking", "thinking": f"hmm {p}", "signature": "x"}],
                },
            )
        elif where == 3:
            add(
                "assistant",
                {
                    "role": "assistant",
                    "model": "claude-x",
                    "content": [{"type": "tool_use", "id": tid, "name": "Bash", "input": {"command": f"echo '{p}'"}}],
                },
            )
        else:
            add(
                "assistant",
                {
                    "role": "assistant",
                    "model": "claude-x",
                    "content": [{"type": "tool_use", "id": tid, "name": "Read", "input": {"file_path": ".env"}}],
                },
            )
            add("user", {"role": "user", "content": [{"type": "tool_result", "tool_use_id": tid, "content": f"{p}\n"}]})
    for j, near in enumerate(NEAR_MISSES):
        add("user", {"role": "user", "content": f"nearmiss{j} {near}"})
    path = folder / "proj" / f"{sid}.jsonl"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("\n".join(json.dumps(r) for r in recs) + "\n")
    return path


def write_chatgpt(folder: Path) -> Path:
    """A ChatGPT export: two conversations, one with secrets, one without."""

    def conv(cid: str, title: str, texts: list[tuple[str, str]]) -> dict:
        mapping, parent = {}, None
        for i, (role, text) in enumerate(texts):
            nid = f"{cid}-n{i}"
            mapping[nid] = {"id": nid, "parent": parent, "children": [],
                            "message": {"id": nid, "author": {"role": role}, "create_time": 1760000000 + i,
                                        "content": {"content_type": "text", "parts": [text]}}}  # fmt: skip
            if parent:
                mapping[parent]["children"].append(nid)
            parent = nid
        return {"id": cid, "conversation_id": cid, "title": title, "create_time": 1760000000,
                "update_time": 1760000100, "mapping": mapping, "current_node": parent}  # fmt: skip

    pieces = _pieces()
    data = [
        conv(
            "c0ffee00-0000-4000-8000-000000000001",
            "keys",
            [("user", f"chatgptword {pieces[0]}"), ("assistant", pieces[1])],
        ),
        conv(
            "c0ffee00-0000-4000-8000-000000000002",
            "plain",
            [("user", "nothing secret here zebrafish"), ("assistant", "ok")],
        ),
    ]
    path = folder / "chatgpt" / "conversations.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(data))
    return path


def assert_no_secret(text: str) -> None:
    """No planted secret, nor a long piece of one, is in ``text``."""
    for s in planted_secrets():
        for piece in {s, s[:16], s[-16:]}:
            assert piece not in text, f"a planted secret leaked: …{piece[-6:]}"
