#!/usr/bin/env python3
"""Deterministic synthetic AI-chat exports in the real provider formats.

    python benchmarks/generate.py OUT_DIR [--conversations N] [--messages M]
        [--chars C] [--seed S] [--providers chatgpt,claude,claude-code,codex,gemini,gemini-cli]
        [--tool-heavy] [--smoke] [--workers W] [--zip-level L]

Defaults: N=1000, M=50, C=500, S=1, every provider, conversations split evenly.
``--conversations 100000`` reproduces the 100K workload of docs/benchmarks.md (100K conversations of
~50 messages of ~500 chars).  ``--smoke`` is tiny (12 conversations of ~6
messages).  ``--tool-heavy`` is a coding-agent mix (mostly claude-code and
codex, many tool rounds, most text in tool outputs).

Layout under OUT_DIR (a real home directory plus downloads; formats as
docs/providers.md describes them):

    chatgpt/chatgpt-export.zip        conversations.json (streamed), user.json,
                                      message_feedback.json
    claude/claude-export.zip          conversations.json (streamed), users.json,
                                      projects.json
    home/.claude/projects/<slug>/<sessionId>.jsonl
    home/.claude/projects/<slug>/<sessionId>/subagents/agent-<id>.jsonl (+ .meta.json)
    home/.codex/sessions/YYYY/MM/DD/rollout-<local time>-<uuid>.jsonl
    home/.gemini/tmp/<projectHash>/chats/session-<YYYY-MM-DDTHH-MM>-<8 hex>.json
    aistudio/<title>                  AI Studio prompt files (no extension)

How messages are counted.  The printed "messages" is what a correct importer
should import as messages (user, assistant and tool messages); side records
are never counted, and injected context is reported separately as "context".

  chatgpt      every mapping node with a user/assistant/tool message, including
               the two nodes of an inactive branch (an edited prompt keeps the
               original prompt and its answer).  A python tool call (assistant,
               content_type "code", recipient "python") and its execution_output
               (role "tool") are two messages.  Not counted: the root node
               (message null); hidden context nodes (system node with parts [""],
               user_editable_context) -> "context".
  claude       every chat_messages[] entry (a web_search tool_use + tool_result
               inside one assistant message is that one message; a regenerated
               answer on an inactive branch is a message).
  claude-code  logical messages: each human prompt record, each assistant
               message.id (one response written as several records, one per
               content block, counts once; its tool_use blocks are part of it),
               and each tool_result user record.  Not counted: summary,
               file-history-snapshot, last-prompt records.  A subagent transcript
               (<sessionId>/subagents/agent-<id>.jsonl) is its own conversation
               and uses one conversation slot.
  codex        each response_item of payload.type "message" (user/assistant),
               "reasoning", "function_call" and "function_call_output".  Not
               counted: session_meta, turn_context, every event_msg (including
               the user_message/agent_message/agent_reasoning copies) and the
               injected <environment_context> user item and developer items
               (-> "context").
  gemini-cli   every messages[] entry (type user or gemini); tool calls and their
               results are embedded in the gemini message (no extra messages).
  gemini       (AI Studio) every chunk in chunkedPrompt.chunks (user chunks,
               model answer chunks and isThought model chunks); pendingInputs is
               not counted.

by_provider[p]["kinds"] breaks the count down (user, assistant, tool_call,
tool_result, reasoning; context is outside "messages").

Sizes.  Message lengths are drawn around a per-provider unit length U_p with
a lognormal spread (user prompts ~0.6 U, answers ~1.0-1.4 U); ordinary tool
outputs are drawn around U_p too, but 5% of tool outputs are 10-100 KB
(truncated Pareto, mean ~24 KB: log lines, file listings, stack traces, file
contents, grep hits).  "chars" counts each message's own text once (text,
thinking, tool input, tool output; not the format's duplicate copies such as
Codex event_msg copies or Claude Code toolUseResult).  In the default mix U_p
is calibrated (CALIBRATION below) so that every provider's mean over counted
messages is ~= --chars tool-output tail included, which means shorter dialogue
in the coding-agent providers (claude-code, gemini-cli: U_p ~0.3 C).  With
--tool-heavy U_p = --chars and the tail comes on top, so most text is tool
output.  The summary reports the measured "avg_chars" and tool-output chars.

Determinism.  A text bank (Zipf vocabulary of ~50K pseudo-words + ~300
English words, clauses, code, log lines, CJK sentences) is built from the
seed; each conversation uses random.Random derived from (seed, provider,
index); conversations are generated in fixed-size chunks, so the output is
byte-identical for a seed whatever the number of workers.  Ids come from the
RNG, never uuid4(); zip member times are fixed.
"""

from __future__ import annotations

import argparse
import base64
import calendar
import hashlib
import itertools
import multiprocessing as mp
import os
import random
import sys
import time
import zipfile
from collections import deque
from concurrent.futures import ProcessPoolExecutor
from operator import add

import orjson

PROVIDERS = ("chatgpt", "claude", "claude-code", "codex", "gemini", "gemini-cli")
PROVIDER_NO = {p: i for i, p in enumerate(PROVIDERS)}
ZIP_PROVIDERS = ("chatgpt", "claude")
TOOL_HEAVY_WEIGHTS = {"claude-code": 45, "codex": 35, "gemini-cli": 10, "chatgpt": 4, "claude": 3, "gemini": 3}
CHUNK = {"chatgpt": 50, "claude": 50, "claude-code": 100, "codex": 100, "gemini": 200, "gemini-cli": 100}
KINDS = ("user", "assistant", "tool_call", "tool_result", "reasoning")


def _ep(y: int, m: int, d: int) -> int:
    return calendar.timegm((y, m, d, 0, 0, 0, 0, 0, 0))


END = _ep(2026, 10, 31)
DATE_RANGE = {
    "chatgpt": (_ep(2024, 1, 1), END),
    "claude": (_ep(2024, 1, 1), END),
    "claude-code": (_ep(2025, 3, 1), END),
    "codex": (_ep(2025, 9, 15), END),
    "gemini": (_ep(2024, 6, 1), END),
    "gemini-cli": (_ep(2025, 7, 1), END),
}
E2025, E2025_06, E2025_09, E2025_11 = _ep(2025, 1, 1), _ep(2025, 6, 1), _ep(2025, 9, 1), _ep(2025, 11, 1)
E2026, E2026_02 = _ep(2026, 1, 1), _ep(2026, 2, 1)
EXPORT_DATE = (2026, 11, 1, 9, 30, 0)
LOCAL_TZ_OFFSET = 3600  # the synthetic user lives at UTC+1 (Codex file names are local)
HOME_USER = "alex"

TAIL_P = 0.05  # share of tool outputs in the heavy tail
TAIL_MIN, TAIL_MAX = 10_000, 100_000
TAIL_ALPHA = 1.2  # truncated Pareto: heavy tail, most big outputs near 10 KB
_TAIL_C = 1 - (TAIL_MIN / TAIL_MAX) ** TAIL_ALPHA
TAIL_MEAN = (
    TAIL_ALPHA
    * TAIL_MIN**TAIL_ALPHA
    / _TAIL_C
    * (TAIL_MIN ** (1 - TAIL_ALPHA) - TAIL_MAX ** (1 - TAIL_ALPHA))
    / (TAIL_ALPHA - 1)
)  # ~23.6 KB
SIG = 0.75
MU = -SIG * SIG / 2  # lognormal with mean 1

# --------------------------------------------------------------------------
# Text bank
# --------------------------------------------------------------------------

COMMON_WORDS = """
the of and to a in is it you that he was for on are with as I his they be at one
have this from or had by not word but what some we can out other were all there
when up use your how said an each she which do their time if will way about many
then them write would like so these her long make thing see him two has look more
day could go come did number sound no most people my over know water than call
first who may down side been now find any new work part take get place made live
where after back little only round man year came show every good me give our
under name very through just form sentence great think say help low line differ
turn cause much mean before move right boy old too same tell does set three want
air well also play small end put home read hand port large spell add even land
here must big high such follow act why ask men change went light kind off need
house picture try us again animal point mother world near build self earth father
head stand own page should country found answer school grow study still learn
plant cover food sun four between state keep eye never last let thought city tree
cross farm hard start might story saw far sea draw left late run don't while press
close night real life few north open seem together next white children begin got
walk example ease paper group always music those both mark often letter until mile
river car feet care second book carry took science eat room friend began idea fish
mountain stop once base hear horse cut sure watch color face wood main enough plain
girl usual young ready above ever red list though feel talk bird soon body dog
family direct pose leave song measure door product black short numeral class wind
question happen complete ship area half rock order fire south problem piece told
knew pass since top whole king space heard best hour better true during hundred
five remember step early hold west ground interest reach fast verb sing listen six
table travel less morning ten simple several vowel toward war lay against pattern
slow center love person money serve appear road map rain rule govern pull cold
notice voice unit power town fine certain fly fall lead cry dark machine note wait
plan figure star box noun field rest correct able pound done beauty drive stood
contain front teach week final gave green oh quick develop ocean warm free minute
strong special mind behind clear tail produce fact street inch multiply nothing
course stay wheel full force blue object decide surface deep moon island foot
system busy test record boat common gold possible plane stead dry wonder laugh
thousand ago ran check game shape equate hot miss brought heat snow tire bring yes
distant fill east paint language among file code function error data server user
value return config module import string list default version update query index
""".split()

ONSETS = [
    "",
    "",
    "b",
    "c",
    "d",
    "f",
    "g",
    "h",
    "j",
    "k",
    "l",
    "m",
    "n",
    "p",
    "r",
    "s",
    "t",
    "v",
    "w",
    "z",
    "b",
    "d",
    "k",
    "l",
    "m",
    "n",
    "p",
    "r",
    "s",
    "t",
    "br",
    "cr",
    "dr",
    "gr",
    "pl",
    "pr",
    "st",
    "tr",
    "ch",
    "sh",
    "th",
]
NUCLEI = ["a", "e", "i", "o", "u", "a", "e", "i", "o", "a", "e", "ai", "ea", "ou", "io", "y", "ee"]
CODAS = ["", "", "", "", "", "", "n", "r", "s", "t", "l", "m", "nd", "st", "ng", "x", "ck"]

ZH_WORDS = """我们 这个 问题 可以 使用 函数 数据 文件 需要 如何 因为 所以 但是 没有 现在 已经
处理 配置 代码 测试 错误 运行 服务器 用户 模型 结果 方法 系统 时间 版本 更新 检查 请 帮我 一下
为什么 什么 怎么 应该 知道 觉得 非常 简单 复杂 重要 解决 目录 接口 参数 返回 数据库 索引 查询
性能 内存 缓存 日志 部署 环境 变量 依赖 安装 导入 模块 项目 功能 实现 修改 删除 添加 文档 说明
例子 输出 输入 字符串 列表 对象 类型 的 了 是 在 和 也 就 都 很 会 能 把 被 对 从 到 这样 那么""".split()
JA_WORDS = """これ それ 私 は が を に で と の です ます でした ください 問題 ファイル 設定 コード
テスト エラー 実行 サーバー ユーザー データ 関数 確認 修正 変更 お願い 方法 必要 簡単 すみません
ありがとう 今日 どう なぜ 使う 作る 見る 書く 読む 動く 動かない 場合 時 前 後 中 新しい 古い
大きい 小さい ログ 出力 入力 環境 変数 バージョン 更新 して いる ある ない よう から まで""".split()

LANGS = ["python", "python", "python", "bash", "typescript", "rust", "go", "json"]
MONTHS = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"]
LEVELS = ["INFO", "INFO", "INFO", "DEBUG", "DEBUG", "WARN", "ERROR"]
EXTS = [".py", ".py", ".py", ".ts", ".rs", ".go", ".md", ".json", ".toml", ".yaml", ".sh"]
CMDS = [
    "git status",
    "git diff",
    "git log --oneline -20",
    "ls -la",
    "rg -n",
    "grep -rn",
    "pytest -x -q",
    "python -m pytest",
    "make test",
    "cargo test",
    "npm run build",
    "cat",
    "sed -n 1,120p",
    "find . -name",
    "docker compose up",
    "uv run",
    "python",
    "go test ./...",
    "wc -l",
    "head -50",
]


def _dedup(seq):
    seen = set()
    out = []
    for x in seq:
        if x not in seen:
            seen.add(x)
            out.append(x)
    return out


class Bank:
    """Pools of pre-generated text; messages are built by joining pool items."""

    def __init__(self, seed: int):
        rng = random.Random(0x7E47_0000_0000 + seed)
        rnd = rng.random

        def ch(seq):
            return seq[int(rnd() * len(seq))]

        def ri(lo, hi):
            return lo + int(rnd() * (hi - lo + 1))

        common = _dedup(COMMON_WORDS)
        vocab = list(common)
        seen = set(vocab)
        target = len(common) + 50_000
        nsyl_max = 200_000
        syl = list(
            map(
                add,
                map(add, rng.choices(ONSETS, k=nsyl_max), rng.choices(NUCLEI, k=nsyl_max)),
                rng.choices(CODAS, k=nsyl_max),
            )
        )
        sp = 0
        while len(vocab) < target:
            r = len(vocab)
            nsyl = 1 + (r > 1200 or rnd() < 0.3) + (r > 6000 and rnd() < 0.6)
            if sp + nsyl > nsyl_max:
                sp = int(rnd() * 1000)
            w = "".join(syl[sp : sp + nsyl])
            sp += nsyl
            if len(w) > 1 and w not in seen:
                seen.add(w)
                vocab.append(w)
        self.vocab = vocab
        self.title_words = vocab[:8000]
        self.short_words = vocab[:3000]
        # Zipf(-Mandelbrot) over ranks (the common English words are the head),
        # sampled through a lookup table: every word gets round(2^20 * p) >= 1 slots.
        w = [1.0 / (r + 2.7) ** 1.05 for r in range(len(vocab))]
        scale = (1 << 20) / sum(w)
        table = []
        for word, x in zip(vocab, w):
            table.extend([word] * max(1, round(x * scale)))
        stream = rng.choices(table, k=700_000)
        pos = 0

        def words(k):
            nonlocal pos
            if pos + k > len(stream):
                pos = int(rnd() * 1000)
            pos += k
            return stream[pos - k : pos]

        mid = vocab[len(common) : len(common) + 6000]

        def m():
            return ch(mid)

        self.snake = [f"{m()}_{m()}" if i % 2 else f"{m()}_{m()}_{m()}" for i in range(4000)]
        self.camel = [
            m().capitalize() + m().capitalize() + (m().capitalize() if i % 3 == 0 else "") for i in range(3000)
        ]
        self.dotted = [f"{m()}.{m()}" if i % 2 else f"{m()}.{m()}.{m()}" for i in range(3000)]
        self.paths = [
            f"{m()}/{m()}/{m()}_{m()}{ch(EXTS)}" if i % 2 else f"src/{m()}/{m()}{ch(EXTS)}" for i in range(4000)
        ]
        self.flags = [f"--{m()}-{m()}" if i % 2 else f"--{m()}" for i in range(1500)]
        idents = self.snake + self.camel + self.dotted + self.paths + self.flags
        self.idents = idents

        def clause():
            ws = words(ri(3, 9))
            if rnd() < 0.3:
                tok = ch(idents)
                ws = list(ws)
                ws.insert(int(rnd() * (len(ws) + 1)), f"`{tok}`" if rnd() < 0.6 else tok)
            return " ".join(ws)

        heads, tails = [], []
        for _ in range(50_000):
            c = clause()
            heads.append(c[0].upper() + c[1:] + (", " if rnd() < 0.35 else " "))
        for _ in range(50_000):
            r = rnd()
            punct = "." if r < 0.82 else "?" if r < 0.93 else "!" if r < 0.96 else ":"
            tails.append(clause() + punct + ("\n\n" if rnd() < 0.18 else " "))
        self.heads, self.tails = heads, tails
        self.caps = [t[0].upper() + t[1:] for t in tails[:20_000]]
        self.sent_avg = (sum(map(len, heads)) / len(heads)) + (sum(map(len, tails)) / len(tails))

        zh = ["".join(rng.choices(ZH_WORDS, k=ri(6, 16))) + ch("。。。？，") for _ in range(3000)]
        ja = []
        for _ in range(3000):
            ws = rng.choices(JA_WORDS, k=ri(6, 16))
            ws.insert(len(ws) // 2, "、")
            ja.append("".join(ws) + ch("。。。？"))
        self.cjk = zh + ja
        self.cjk_avg = sum(map(len, self.cjk)) / len(self.cjk)

        def ind():
            return "    " * ch((0, 1, 1, 2, 2, 3))

        def sn():
            return ch(self.snake)

        def cm():
            return ch(self.camel)

        py = []
        for i in range(20_000):
            k = i % 14
            if k == 0:
                line = f"{ind()}{sn()} = {sn()}({sn()}, {m()}={ri(0, 4096)})"
            elif k == 1:
                line = f"{ind()}def {sn()}(self, {sn()}: {cm()}, {m()}: int = {ri(0, 99)}) -> {cm()}:"
            elif k == 2:
                line = f"class {cm()}({cm()}):"
            elif k == 3:
                line = f"from {ch(self.dotted)} import {cm()}, {sn()}"
            elif k == 4:
                line = f'{ind()}return {sn()}.{sn()}("{m()}")'
            elif k == 5:
                line = f"{ind()}if {sn()} is None or len({sn()}) > {ri(1, 512)}:"
            elif k == 6:
                line = f"{ind()}for {m()} in {sn()}.{m()}():"
            elif k == 7:
                line = f'{ind()}raise {cm()}Error(f"{" ".join(words(4))} {{{sn()}}}")'
            elif k == 8:
                line = f"{ind()}# {clause()}"
            elif k == 9:
                line = f'{ind()}{sn()} = Path("{ch(self.paths)}")'
            elif k == 10:
                line = f'{ind()}logger.info("{" ".join(words(5))}: %s", {sn()})'
            elif k == 11:
                line = f"{ind()}self.{sn()} = {sn()}"
            elif k == 12:
                line = f"{ind()}await {ch(self.dotted)}({sn()}, {ch(self.flags)[2:].replace('-', '_')}=True)"
            else:
                line = ""
            py.append(line)
        self.code = py
        self.code_avg = sum(map(len, py)) / len(py) + 1
        self.bash = [
            f"{ch(CMDS)} {ch(self.flags)} {ch(self.paths)}" if i % 2 else f"{ch(CMDS)} {ch(self.paths)}"
            for i in range(8000)
        ]

        def ts():
            return (
                f"2025-{ri(1, 12):02d}-{ri(1, 28):02d}T{ri(0, 23):02d}:"
                f"{ri(0, 59):02d}:{ri(0, 59):02d}.{ri(0, 999):03d}Z"
            )

        log = [f"{ts()} {ch(LEVELS):<5} {ch(self.dotted)}: {clause()} {sn()}={ri(0, 99999)}" for _ in range(20_000)]
        ls = [
            f"-rw-r--r--  1 {HOME_USER} staff {ri(12, 999999):>8} {ch(MONTHS)} "
            f"{ri(1, 28):>2} {ri(0, 23):02d}:{ri(0, 59):02d} {ch(self.paths)}"
            for _ in range(10_000)
        ]
        trace = []
        for i in range(10_000):
            if i % 9 == 0:
                trace.append(f"{cm()}Error: {clause()}")
            elif i % 9 == 1:
                trace.append("Traceback (most recent call last):")
            else:
                trace.append(
                    f'  File "/home/{HOME_USER}/{ch(self.paths)}", line {ri(1, 2400)}, in {sn()}\n    {ch(py).strip()}'
                )
        test = [
            f"{ch(self.paths)}::Test{cm()}::test_{sn()} {'PASSED' if rnd() < 0.93 else 'FAILED'} [{ri(0, 100):>3}%]"
            for _ in range(8_000)
        ]
        grep = [f"{ch(self.paths)}:{ri(1, 1500)}:{ch(py).strip()}" for _ in range(10_000)]
        self.out = {"log": log, "ls": ls, "trace": trace, "test": test, "grep": grep, "code": py}
        self.out_avg = {k: sum(map(len, v)) / len(v) + 1 for k, v in self.out.items()}


B: Bank = None  # type: ignore[assignment]
CTX: Ctx = None  # type: ignore[assignment]

# --------------------------------------------------------------------------
# Small fast helpers
# --------------------------------------------------------------------------

_gmtime = time.gmtime
_strftime = time.strftime
_VARIANT = {c: "89ab"[int(c, 16) & 3] for c in "0123456789abcdef"}
_B64_FIX = bytes.maketrans(b"+/=", b"xkQ")


def iso(t: float) -> str:
    """ISO 8601 with milliseconds and Z (Claude Code, Codex, Gemini CLI)."""
    s = int(t)
    return _strftime("%Y-%m-%dT%H:%M:%S", _gmtime(s)) + ".%03dZ" % int((t - s) * 1000)


def iso6(t: float) -> str:
    """ISO 8601 with microseconds and Z (Claude.ai)."""
    s = int(t)
    return _strftime("%Y-%m-%dT%H:%M:%S", _gmtime(s)) + ".%06dZ" % int((t - s) * 1_000_000)


def uid(rng: random.Random) -> str:
    h = "%032x" % rng.getrandbits(128)
    return f"{h[:8]}-{h[8:12]}-4{h[13:16]}-{_VARIANT[h[16]]}{h[17:20]}-{h[20:]}"


def uuid7(rng: random.Random, t: float) -> str:
    v = (int(t * 1000) << 80) | (7 << 76) | (rng.getrandbits(12) << 64) | (2 << 62) | rng.getrandbits(62)
    h = "%032x" % v
    return f"{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:]}"


def rid(rng: random.Random, n: int) -> str:
    """n base64-ish alphanumeric chars (msg_/toolu_/req_/call_ ids)."""
    nb = (n * 3 + 3) // 4 + 1
    return base64.b64encode(rng.getrandbits(nb * 8).to_bytes(nb, "big")).translate(_B64_FIX)[:n].decode()


def blob64(rng: random.Random, n: int) -> str:
    return base64.b64encode(rng.getrandbits(n * 6).to_bytes((n * 6 + 7) // 8, "big")).decode()[:n]


def conv_rng(provider: str, idx: int) -> random.Random:
    return random.Random((CTX.seed * 7919 + PROVIDER_NO[provider]) * 100_000_007 + idx)


def n_msgs(rng: random.Random) -> int:
    m = CTX.messages
    lo = max(2, round(m * 0.7))
    return rng.randint(lo, max(lo, round(m * 1.3)))


def start_time(rng: random.Random, provider: str) -> float:
    lo, hi = DATE_RANGE[provider]
    return lo + (hi - lo - 86400) * rng.random()


def size(rng: random.Random, factor: float) -> int:
    return int(CTX.unit * factor * rng.lognormvariate(MU, SIG)) + 8


def prose(rng: random.Random, n_chars: float) -> str:
    x = n_chars / B.sent_avg
    k = int(x)
    if rng.random() < x - k:
        k += 1
    if k == 0:
        return rng.choice(B.caps).rstrip()
    return "".join(map(add, rng.choices(B.heads, k=k), rng.choices(B.tails, k=k))).rstrip()


def cjk(rng: random.Random, n_chars: float) -> str:
    return "".join(rng.choices(B.cjk, k=max(1, round(n_chars / B.cjk_avg))))


def code_block(rng: random.Random, n_chars: float) -> str:
    k = max(2, round(n_chars / B.code_avg))
    return "```" + rng.choice(LANGS) + "\n" + "\n".join(rng.choices(B.code, k=k)) + "\n```"


def text(rng: random.Random, n_chars: int, code_p: float = 0.0) -> str:
    """A message body: prose; sometimes with a fenced code block; ~1% CJK."""
    r = rng.random()
    if r < 0.01:
        return cjk(rng, n_chars)
    if r < 0.01 + code_p:
        return (
            prose(rng, n_chars * 0.35) + "\n\n" + code_block(rng, n_chars * 0.5) + "\n\n" + prose(rng, n_chars * 0.15)
        )
    return prose(rng, n_chars)


def short(rng: random.Random, k: int) -> str:
    return " ".join(rng.choices(B.short_words, k=k))


def title(rng: random.Random) -> str:
    s = " ".join(rng.choices(B.title_words, k=rng.randint(2, 6)))
    return s[0].upper() + s[1:]


_TOOL = [0, 0, 0, 0]  # per process: tool outputs, of which big, chars in big ones, all chars


def tool_out(rng: random.Random, kind: str, big: bool, factor: float = 1.0) -> str:
    """Tool output text; `big` draws from the 10-100 KB tail."""
    _TOOL[0] += 1
    if big:
        target = TAIL_MIN / (1 - rng.random() * _TAIL_C) ** (1 / TAIL_ALPHA)
        if kind not in ("log", "ls", "trace", "code", "grep"):
            kind = "log"
    else:
        target = CTX.tool_unit * factor * rng.lognormvariate(MU, SIG) + 16
    k = max(1, round(target / B.out_avg[kind]))
    out = "\n".join(rng.choices(B.out[kind], k=k))
    _TOOL[3] += len(out)
    if big:
        _TOOL[1] += 1
        _TOOL[2] += len(out)
    return out


def numbered(s: str) -> str:
    return "\n".join(f"{i:>6}\t{line}" for i, line in enumerate(s.split("\n"), 1))


class Stats(dict):
    def __init__(self):
        super().__init__(
            conversations=0,
            files=0,
            bytes=0,
            chars=0,
            context=0,
            user=0,
            assistant=0,
            tool_call=0,
            tool_result=0,
            reasoning=0,
        )

    def merge(self, other: dict):
        for k, v in other.items():
            self[k] = self.get(k, 0) + v


_DIRS: set = set()


def write_file(path: str, data: bytes, mtime: float, st: Stats) -> None:
    d = os.path.dirname(path)
    if d not in _DIRS:
        os.makedirs(d, exist_ok=True)
        _DIRS.add(d)
    with open(path, "wb") as f:
        f.write(data)
    os.utime(path, (mtime, mtime))
    st["files"] += 1
    st["bytes"] += len(data)


def rounds(rng: random.Random) -> int:
    """Tool rounds in one agent turn."""
    return int(rng.expovariate(1 / CTX.round_mean))


# --------------------------------------------------------------------------
# ChatGPT
# --------------------------------------------------------------------------

CHATGPT_MODELS = {
    2024: ["gpt-4o", "gpt-4o", "gpt-4", "gpt-4o-mini"],
    2025: ["gpt-4o", "o3", "o4-mini", "gpt-4-5", "gpt-4o"],
    2026: ["gpt-5", "gpt-5-thinking", "gpt-5-1", "gpt-5-instant"],
}


def _cg_author(role, name=None):
    return {"role": role, "name": name, "metadata": {}}


def gen_chatgpt(idx: int, st: Stats):
    rng = conv_rng("chatgpt", idx)
    n = n_msgs(rng)
    t0 = t = start_time(rng, "chatgpt")
    era = 2024 if t0 < E2025 else 2025 if t0 < E2025_09 else 2026
    model = rng.choice(CHATGPT_MODELS[era])
    cid = uid(rng)
    mapping: dict = {}

    def node(nid, msg, parent):
        mapping[nid] = {"id": nid, "message": msg, "parent": parent, "children": []}
        if parent is not None:
            mapping[parent]["children"].append(nid)

    def user_id():
        u = uid(rng)
        return "aaa2" + u[4:] if era == 2024 else u

    def user(mid, when, body):
        st["user"] += 1
        st["chars"] += len(body)
        return {
            "id": mid,
            "author": _cg_author("user"),
            "create_time": when,
            "update_time": None,
            "content": {"content_type": "text", "parts": [body]},
            "status": "finished_successfully",
            "end_turn": None,
            "weight": 1.0,
            "metadata": {
                "request_id": "%016x" % rng.getrandbits(64),
                "message_source": None,
                "timestamp_": "absolute",
                "message_type": None,
            },
            "recipient": "all",
            "channel": None,
        }

    def assistant(mid, when, parent_id, content, recipient="all", end_turn=True):
        st["assistant" if recipient == "all" else "tool_call"] += 1
        md = {
            "finish_details": {"type": "stop", "stop_tokens": [200002 if end_turn else 200007]},
            "is_complete": True,
            "citations": [],
            "content_references": [],
            "message_type": None,
            "model_slug": model,
            "default_model_slug": model,
            "parent_id": parent_id,
            "request_id": "%016x" % rng.getrandbits(64),
            "timestamp_": "absolute",
        }
        return {
            "id": mid,
            "author": _cg_author("assistant"),
            "create_time": when,
            "update_time": None,
            "content": content,
            "status": "finished_successfully",
            "end_turn": end_turn if end_turn else None,
            "weight": 1.0,
            "metadata": md,
            "recipient": recipient,
            "channel": "final" if era == 2026 and recipient == "all" else None,
        }

    def answer(mid, when, parent_id):
        body = text(rng, size(rng, 1.4), 0.15)
        st["chars"] += len(body)
        return assistant(mid, when, parent_id, {"content_type": "text", "parts": [body]})

    root = uid(rng) if era == 2024 else "client-created-root"
    node(root, None, None)
    parent = root
    if era == 2024:
        sid = uid(rng)
        node(
            sid,
            {
                "id": sid,
                "author": _cg_author("system"),
                "create_time": None,
                "update_time": None,
                "content": {"content_type": "text", "parts": [""]},
                "status": "finished_successfully",
                "end_turn": True,
                "weight": 0.0,
                "metadata": {"is_visually_hidden_from_conversation": True},
                "recipient": "all",
                "channel": None,
            },
            parent,
        )
        parent = sid
        st["context"] += 1
    elif rng.random() < 0.3:
        sid = uid(rng)
        node(
            sid,
            {
                "id": sid,
                "author": _cg_author("user"),
                "create_time": None,
                "update_time": None,
                "content": {
                    "content_type": "user_editable_context",
                    "user_profile": "Preferred name: " + title(rng),
                    "user_instructions": prose(rng, 120),
                },
                "status": "finished_successfully",
                "end_turn": None,
                "weight": 0,
                "metadata": {"is_visually_hidden_from_conversation": True, "is_user_system_message": True},
                "recipient": "all",
                "channel": None,
            },
            parent,
        )
        parent = sid
        st["context"] += 1

    branch_turn = rng.randrange(0, max(1, n // 6)) if n >= 6 and rng.random() < 0.15 else -1
    tool_p = 0.08 if CTX.tool_heavy is False else 0.3
    remaining = n
    turn = 0
    fb = None
    while remaining >= 2:
        t += 30 + 900 * rng.random()
        if turn == branch_turn and remaining >= 4:
            # The prompt as first sent, and its answer: the edit below made them inactive.
            u0 = user_id()
            node(u0, user(u0, t, text(rng, size(rng, 0.6), 0.05)), parent)
            t += 3 + 40 * rng.random()
            a0 = uid(rng)
            node(a0, answer(a0, t, u0), u0)
            remaining -= 2
            t += 20 + 300 * rng.random()
        u = user_id()
        node(u, user(u, t, text(rng, size(rng, 0.6), 0.05)), parent)
        remaining -= 1
        parent = u
        t += 2 + 30 * rng.random()
        if remaining >= 3 and rng.random() < tool_p:
            big = rng.random() < TAIL_P
            code = "\n".join(rng.choices(B.code, k=rng.randint(3, 14)))
            st["chars"] += len(code)
            c = uid(rng)
            node(
                c,
                assistant(
                    c,
                    t,
                    parent,
                    {"content_type": "code", "language": "python", "response_format_name": None, "text": code},
                    recipient="python",
                    end_turn=False,
                ),
                parent,
            )
            t1 = t + 0.5 + 5 * rng.random()
            out = tool_out(rng, "log", big)
            st["tool_result"] += 1
            st["chars"] += len(out)
            o = uid(rng)
            node(
                o,
                {
                    "id": o,
                    "author": _cg_author("tool", "python"),
                    "create_time": t1,
                    "update_time": t1,
                    "content": {"content_type": "execution_output", "text": out},
                    "status": "finished_successfully",
                    "end_turn": None,
                    "weight": 1.0,
                    "metadata": {
                        "is_complete": True,
                        "aggregate_result": {
                            "status": "success",
                            "run_id": uid(rng),
                            "start_time": t,
                            "update_time": t1,
                            "code": code,
                            "end_time": t1,
                            "final_expression_output": None,
                            "in_kernel_exception": None,
                            "system_exception": None,
                            "messages": [],
                            "jupyter_messages": [],
                            "timeout_triggered": None,
                        },
                        "model_slug": model,
                        "parent_id": c,
                        "timestamp_": "absolute",
                    },
                    "recipient": "all",
                    "channel": None,
                },
                c,
            )
            t = t1 + 2 + 20 * rng.random()
            a = uid(rng)
            node(a, answer(a, t, o), o)
            parent = a
            remaining -= 3
        else:
            a = uid(rng)
            node(a, answer(a, t, parent), parent)
            parent = a
            remaining -= 1
        if fb is None and rng.random() < 0.005:
            fb = {
                "id": uid(rng),
                "conversation_id": cid,
                "user_id": "user-" + rid(rng, 24),
                "rating": "thumbs_up" if rng.random() < 0.7 else "thumbs_down",
                "content": orjson.dumps({"tags": [], "text": ""}).decode(),
                "create_time": iso6(t),
                "evaluation_name": None,
                "evaluation_treatment": None,
                "message_id": a,
            }
        turn += 1
    conv = {
        "title": title(rng),
        "create_time": t0,
        "update_time": t,
        "mapping": mapping,
        "moderation_results": [],
        "current_node": parent,
        "plugin_ids": None,
        "conversation_id": cid,
        "conversation_template_id": None,
        "gizmo_id": None,
        "gizmo_type": None,
        "is_archived": False,
        "is_starred": None,
        "safe_urls": [],
        "blocked_urls": [],
        "default_model_slug": model,
        "conversation_origin": None,
        "voice": None,
        "async_status": None,
        "disabled_tool_ids": [],
        "is_do_not_remember": False,
        "memory_scope": "global_enabled",
        "sugar_item_id": None,
        "id": cid,
    }
    st["conversations"] += 1
    return conv, fb


def chunk_chatgpt(start: int, count: int) -> dict:
    st = Stats()
    parts, extra = [], []
    for i in range(start, start + count):
        conv, fb = gen_chatgpt(i, st)
        parts.append(orjson.dumps(conv))
        if fb:
            extra.append(fb)
    return {"provider": "chatgpt", "blob": b",".join(parts), "stats": st, "extra": extra}


# --------------------------------------------------------------------------
# Claude.ai
# --------------------------------------------------------------------------

ROOT_SENTINEL = "00000000-0000-4000-8000-000000000000"
SITES = [
    "docs.python.org",
    "stackoverflow.com",
    "github.com",
    "developer.mozilla.org",
    "en.wikipedia.org",
    "arxiv.org",
    "news.ycombinator.com",
    "sqlite.org",
    "rust-lang.org",
    "medium.com",
]


def gen_claude(idx: int, st: Stats):
    rng = conv_rng("claude", idx)
    n = n_msgs(rng)
    t0 = t = start_time(rng, "claude")
    new = t0 >= E2025
    cid = uid(rng)
    msgs = []

    def block(body, ts, te):
        if new:
            return {
                "start_timestamp": iso6(ts),
                "stop_timestamp": iso6(te),
                "flags": None,
                "type": "text",
                "text": body,
                "citations": [],
            }
        return {"type": "text", "text": body}

    def message(sender, content, body, when, parent, attachments=(), files=()):
        mid = uid(rng)
        msgs.append(
            {
                "uuid": mid,
                "text": body,
                "content": content,
                "sender": sender,
                "created_at": iso6(when),
                "updated_at": iso6(when),
                "attachments": list(attachments),
                "files": list(files),
                "parent_message_uuid": parent,
            }
        )
        st["user" if sender == "human" else "assistant"] += 1
        return mid

    def human(parent):
        body = text(rng, size(rng, 0.6), 0.05)
        st["chars"] += len(body)
        att = []
        if rng.random() < 0.03:
            content = tool_out(rng, rng.choice(("log", "code", "trace")), False, 2.0)
            st["chars"] += len(content)
            att.append(
                {
                    "file_name": rng.choice(("paste.txt", "error.log", "notes.md", "main.py")),
                    "file_size": len(content.encode()),
                    "file_type": "txt",
                    "extracted_content": content,
                }
            )
        files = []
        if rng.random() < 0.01:
            files.append({"file_name": "image.png", "file_uuid": uid(rng), "file_kind": "image", "created_at": iso6(t)})
        return message("human", [block(body, t, t)], body, t, parent, att, files)

    def assistant(parent, when):
        body = text(rng, size(rng, 1.4), 0.15)
        st["chars"] += len(body)
        te = when + 2 + 20 * rng.random()
        content = []
        if new and rng.random() < 0.2:
            th = prose(rng, size(rng, 0.4))
            st["chars"] += len(th)
            content.append(
                {
                    "start_timestamp": iso6(when),
                    "stop_timestamp": iso6(when + 2),
                    "flags": None,
                    "type": "thinking",
                    "thinking": th,
                    "summaries": [{"summary": short(rng, 5)}],
                    "cut_off": False,
                }
            )
        if new and rng.random() < 0.06:
            tu = "toolu_01" + rid(rng, 22)
            pre = prose(rng, 60)
            st["chars"] += len(pre)
            results = []
            for _ in range(rng.randint(2, 5)):
                site = rng.choice(SITES)
                snip = prose(rng, 200)
                st["chars"] += len(snip)
                results.append(
                    {
                        "type": "knowledge",
                        "title": title(rng),
                        "url": f"https://{site}/{rid(rng, 10)}",
                        "metadata": {
                            "type": "webpage_metadata",
                            "site_domain": site,
                            "favicon_url": f"https://www.google.com/s2/favicons?sz=64&domain={site}",
                            "site_name": site.split(".")[0],
                        },
                        "is_missing": False,
                        "text": snip,
                    }
                )
            content += [
                block(pre, when, when),
                {
                    "start_timestamp": iso6(when),
                    "stop_timestamp": iso6(when),
                    "flags": None,
                    "type": "tool_use",
                    "id": tu,
                    "name": "web_search",
                    "input": {"query": short(rng, 4)},
                    "message": "Searching the web",
                    "integration_name": None,
                    "integration_icon_url": None,
                    "context": None,
                    "display_content": None,
                    "approval_options": None,
                    "approval_key": None,
                },
                {
                    "start_timestamp": None,
                    "stop_timestamp": None,
                    "flags": None,
                    "type": "tool_result",
                    "tool_use_id": tu,
                    "name": "web_search",
                    "content": results,
                    "is_error": False,
                    "message": None,
                    "display_content": None,
                },
            ]
            content.append(block(body, when, te))
            body = pre + "\n\n" + body  # `text` joins the text blocks
        else:
            content.append(block(body, when, te))
        return message("assistant", content, body, when, parent), te

    parent = ROOT_SENTINEL
    branch_turn = rng.randrange(0, max(1, n // 4)) if n >= 6 and rng.random() < 0.08 else -1
    remaining = n
    turn = 0
    while remaining >= 2:
        t += 30 + 900 * rng.random()
        h = human(parent)
        remaining -= 1
        t += 1 + 10 * rng.random()
        if turn == branch_turn and remaining >= 3:
            _, te = assistant(h, t)  # first answer, then regenerated: inactive branch
            remaining -= 1
            t = te + 10 + 60 * rng.random()
        parent, t = assistant(h, t)
        remaining -= 1
        turn += 1
    conv = {
        "uuid": cid,
        "name": title(rng) if rng.random() < 0.95 else "",
        "summary": "",
        "created_at": iso6(t0),
        "updated_at": iso6(t),
        "account": {"uuid": CTX.account},
        "chat_messages": msgs,
    }
    st["conversations"] += 1
    return conv


def chunk_claude(start: int, count: int) -> dict:
    st = Stats()
    parts = [orjson.dumps(gen_claude(i, st)) for i in range(start, start + count)]
    return {"provider": "claude", "blob": b",".join(parts), "stats": st, "extra": []}


# --------------------------------------------------------------------------
# Claude Code
# --------------------------------------------------------------------------


def cc_version_model(rng, t):
    if t < E2025_06:
        return f"1.0.{rng.randint(2, 30)}", rng.choice(("claude-3-7-sonnet-20250219", "claude-sonnet-4-20250514"))
    if t < E2025_09:
        return f"1.0.{rng.randint(90, 128)}", rng.choice(("claude-sonnet-4-20250514", "claude-opus-4-1-20250805"))
    if t < E2026:
        return f"2.0.{rng.randint(0, 76)}", rng.choice(("claude-sonnet-4-5-20250929", "claude-opus-4-5-20251101"))
    return f"2.1.{rng.randint(0, 160)}", rng.choice(
        ("claude-opus-4-6", "claude-sonnet-4-6", "claude-opus-4-5-20251101")
    )


class CCSession:
    """Writes one Claude Code transcript (main session or subagent)."""

    def __init__(self, rng, st, sid, proj, ver, model, t, agent=None):
        self.rng, self.st, self.sid = rng, st, sid
        self.cwd, self.branch = proj
        self.ver, self.model, self.t, self.agent = ver, model, t, agent
        major, minor, patch = (int(x) for x in ver.split("."))
        self.split = (major, minor, patch) >= (1, 0, 90)  # one record per content block
        self.v2 = major >= 2
        self.v21 = (major, minor) >= (2, 1)
        self.lines: list = []
        self.last = None
        self.ctx_tokens = rng.randint(9000, 16000)
        self.new_tokens = self.ctx_tokens
        self.last_prompt = ""
        self.tool_uses = 0
        self.out_tokens = 0

    def env(self, typ, parent, **kw):
        d = {
            "parentUuid": parent,
            "isSidechain": self.agent is not None,
            "userType": "external",
            "cwd": self.cwd,
            "sessionId": self.sid,
            "version": self.ver,
            "gitBranch": self.branch,
        }
        if self.agent:
            d["agentId"] = self.agent
        d["type"] = typ
        d.update(kw)
        return d

    def emit(self, d):
        self.lines.append(orjson.dumps(d))

    def prompt(self, body):
        rng = self.rng
        u = uid(rng)
        if self.v2 and not self.agent:
            self.emit(
                {
                    "type": "file-history-snapshot",
                    "messageId": u,
                    "snapshot": {"messageId": u, "trackedFileBackups": {}, "timestamp": iso(self.t)},
                    "isSnapshotUpdate": False,
                }
            )
        rec = self.env("user", self.last, message={"role": "user", "content": body}, uuid=u, timestamp=iso(self.t))
        if self.v21:
            rec["promptId"] = uid(rng)
            rec["permissionMode"] = "default"
        self.emit(rec)
        self.last = u
        self.last_prompt = body
        self.st["user"] += 1
        self.st["chars"] += len(body)
        self.new_tokens += len(body) // 4

    def assistant(self, blocks, chars):
        """One API response; returns the record uuid holding each block."""
        rng, st = self.rng, self.st
        mid = "msg_01" + rid(rng, 22)
        req = "req_011C" + rid(rng, 20)
        cc, cr = self.new_tokens, self.ctx_tokens
        inp = rng.randint(1, 12)

        def usage(out):
            u = {
                "input_tokens": inp,
                "cache_creation_input_tokens": cc,
                "cache_read_input_tokens": cr,
                "output_tokens": out,
            }
            if self.v2:
                u["cache_creation"] = {"ephemeral_5m_input_tokens": 0, "ephemeral_1h_input_tokens": cc}
                u["service_tier"] = "standard"
            return u

        uuids = []
        if self.split:
            out = 0
            for b in blocks:
                out += 1 + len(b.get("text") or b.get("thinking") or "") // 4 + (20 if b["type"] == "tool_use" else 0)
                self.t += 0.2 + 2.5 * rng.random()
                u = uid(rng)
                self.emit(
                    self.env(
                        "assistant",
                        self.last,
                        message={
                            "model": self.model,
                            "id": mid,
                            "type": "message",
                            "role": "assistant",
                            "content": [b],
                            "stop_reason": None,
                            "stop_sequence": None,
                            "usage": usage(out),
                        },
                        requestId=req,
                        uuid=u,
                        timestamp=iso(self.t),
                    )
                )
                self.last = u
                uuids.append(u)
        else:
            out = 1 + chars // 4
            self.t += 1 + 8 * rng.random()
            u = uid(rng)
            self.emit(
                self.env(
                    "assistant",
                    self.last,
                    message={
                        "id": mid,
                        "type": "message",
                        "role": "assistant",
                        "model": self.model,
                        "content": blocks,
                        "stop_reason": "tool_use" if blocks[-1]["type"] == "tool_use" else "end_turn",
                        "stop_sequence": None,
                        "usage": usage(out),
                    },
                    requestId=req,
                    uuid=u,
                    timestamp=iso(self.t),
                )
            )
            self.last = u
            uuids = [u] * len(blocks)
        st["assistant"] += 1
        st["chars"] += chars
        self.ctx_tokens += cc
        self.new_tokens = out
        self.out_tokens += out
        return uuids

    def tool_result(self, parent, tool_id, content, tur, is_error=False):
        rng = self.rng
        self.t += 0.05 + (20 if rng.random() < 0.1 else 2) * rng.random()
        u = uid(rng)
        rec = self.env(
            "user",
            parent,
            message={
                "role": "user",
                "content": [{"tool_use_id": tool_id, "type": "tool_result", "content": content, "is_error": is_error}],
            },
            uuid=u,
            timestamp=iso(self.t),
            toolUseResult=tur,
        )
        if self.v21:
            rec["sourceToolAssistantUUID"] = parent
        self.emit(rec)
        self.last = u
        self.st["tool_result"] += 1
        chars = len(content) if isinstance(content, str) else sum(len(c["text"]) for c in content)
        self.st["chars"] += chars
        self.new_tokens += chars // 4

    def make_tool(self):
        """(tool_use block, result content, toolUseResult, is_error, input chars)."""
        rng = self.rng
        big = rng.random() < TAIL_P
        r = rng.random()
        tid = "toolu_01" + rid(rng, 22)
        if big:
            name = "Bash" if r < 0.6 else "Read" if r < 0.85 else "Grep"
        else:
            name = "Bash" if r < 0.4 else "Read" if r < 0.65 else "Edit" if r < 0.8 else "Grep" if r < 0.92 else "Glob"
        err = False
        if name == "Bash":
            cmd = rng.choice(B.bash)
            out = tool_out(rng, rng.choice(("log", "test", "ls", "grep", "trace")), big)
            inp = {"command": cmd, "description": short(rng, 4)}
            if rng.random() < 0.04:
                err = True
                content = "Exit code 1\n" + out
                tur = "Error: Exit code 1\n" + out
            else:
                content = out
                tur = {"stdout": out, "stderr": "", "interrupted": False, "isImage": False}
        elif name == "Read":
            path = f"{self.cwd}/{rng.choice(B.paths)}"
            raw = tool_out(rng, "code", big)
            inp = {"file_path": path}
            content = numbered(raw)
            nl = raw.count("\n") + 1
            tur = {
                "type": "text",
                "file": {"filePath": path, "content": raw, "numLines": nl, "startLine": 1, "totalLines": nl},
            }
        elif name == "Edit":
            path = f"{self.cwd}/{rng.choice(B.paths)}"
            old = "\n".join(rng.choices(B.code, k=rng.randint(1, 6)))
            new = "\n".join(rng.choices(B.code, k=rng.randint(1, 8)))
            inp = {"file_path": path, "old_string": old, "new_string": new}
            start = rng.randint(1, 400)
            content = (
                f"The file {path} has been updated. Here's the result of running `cat -n` on a snippet "
                f"of the edited file:\n" + numbered(new)
            )
            tur = {
                "filePath": path,
                "oldString": old,
                "newString": new,
                "originalFile": None,
                "structuredPatch": [
                    {
                        "oldStart": start,
                        "oldLines": old.count("\n") + 1,
                        "newStart": start,
                        "newLines": new.count("\n") + 1,
                        "lines": (["-" + x for x in old.split("\n")] + ["+" + x for x in new.split("\n")]),
                    }
                ],
                "userModified": False,
                "replaceAll": False,
            }
        elif name == "Grep":
            out = tool_out(rng, "grep", big)
            inp = {"pattern": rng.choice(B.snake), "path": self.cwd, "output_mode": "content", "-n": True}
            content = out
            tur = {
                "mode": "content",
                "numFiles": rng.randint(1, 40),
                "filenames": [],
                "content": out,
                "numLines": out.count("\n") + 1,
            }
        else:
            files = [f"{self.cwd}/{p}" for p in rng.choices(B.paths, k=rng.randint(1, 30))]
            inp = {"pattern": "**/*" + rng.choice(EXTS)}
            content = "\n".join(files)
            tur = {"filenames": files, "durationMs": rng.randint(5, 900), "numFiles": len(files), "truncated": False}
        blk = {"type": "tool_use", "id": tid, "name": name, "input": inp}
        if self.v21:
            blk["caller"] = {"type": "direct"}
        return blk, content, tur, err, sum(len(v) for v in inp.values() if isinstance(v, str))

    def tool_round(self, parallel):
        rng = self.rng
        blocks, chars = [], 0
        if rng.random() < CTX.think_p:
            th = prose(rng, size(rng, 0.3))
            blocks.append({"type": "thinking", "thinking": th, "signature": blob64(rng, 200)})
            chars += len(th)
        if rng.random() < 0.6:
            pre = prose(rng, size(rng, 0.2))
            blocks.append({"type": "text", "text": pre})
            chars += len(pre)
        tools = [self.make_tool() for _ in range(2 if parallel else 1)]
        for blk, _, _, _, ic in tools:
            blocks.append(blk)
            chars += ic
        uuids = self.assistant(blocks, chars)
        for (blk, content, tur, err, _), u in zip(tools, uuids[-len(tools) :]):
            self.tool_result(u, blk["id"], content, tur, err)
        self.tool_uses += len(tools)
        return 1 + len(tools)

    def final(self):
        rng = self.rng
        blocks, chars = [], 0
        if rng.random() < CTX.think_p:
            th = prose(rng, size(rng, 0.3))
            blocks.append({"type": "thinking", "thinking": th, "signature": blob64(rng, 200)})
            chars += len(th)
        body = text(rng, size(rng, 1.0), 0.25)
        blocks.append({"type": "text", "text": body})
        self.assistant(blocks, chars + len(body))
        return body


def gen_claude_code(idx: int, can_pair: bool, st: Stats) -> int:
    """Write one session (and possibly its subagent, which uses slot idx+1); return slots used."""
    rng = conv_rng("claude-code", idx)
    n = n_msgs(rng)
    t0 = start_time(rng, "claude-code")
    ver, model = cc_version_model(rng, t0)
    proj = rng.choice(CTX.projects)
    sid = uid(rng)
    s = CCSession(rng, st, sid, (proj[0], proj[2]), ver, model, t0)
    s.slug = proj[1]
    want_sub = can_pair and s.v21 and n >= 4 and rng.random() < 0.08
    sub_turn = rng.randrange(0, max(1, n // 8)) if want_sub else -1
    sub_done = False
    sub_files = []
    remaining = n
    turn = 0
    while remaining >= 2:
        s.t += 20 + 600 * rng.random()
        s.prompt(text(rng, size(rng, 0.6), 0.1))
        remaining -= 1
        pending = want_sub and not sub_done
        do_task = pending and (turn >= sub_turn or remaining <= 6)
        max_r = (remaining - 1) // 2
        if pending and not do_task:
            max_r = max(0, (remaining - 5) // 2)
        r = min(rounds(rng), max_r)
        if do_task:
            remaining -= cc_task_round(s, idx + 1, st, sub_files)
            sub_done = True
            r = min(r, (remaining - 1) // 2)
        for _ in range(r):
            remaining -= s.tool_round(remaining >= 4 and rng.random() < 0.12)
        s.final()
        remaining -= 1
        turn += 1
    lines = s.lines
    if s.v21:
        lines.append(
            orjson.dumps(
                {"type": "last-prompt", "lastPrompt": s.last_prompt[:200], "leafUuid": s.last, "sessionId": sid}
            )
        )
    summary = orjson.dumps({"type": "summary", "summary": title(rng), "leafUuid": s.last})
    path = os.path.join(CTX.out, "home", ".claude", "projects", proj[1], sid + ".jsonl")
    write_file(path, summary + b"\n" + b"\n".join(lines) + b"\n", s.t, st)
    st["conversations"] += 1
    for p, data, mt in sub_files:
        write_file(p, data, mt, st)
    return 2 if sub_done else 1


def cc_task_round(s: CCSession, sub_idx: int, st: Stats, sub_files: list) -> int:
    """A Task tool call in session `s` whose subagent transcript is conversation slot sub_idx."""
    rng = s.rng
    aid = "a" + "%016x" % rng.getrandbits(64)
    prompt = prose(rng, size(rng, 0.8))
    desc = short(rng, 4)
    blk = {
        "type": "tool_use",
        "id": "toolu_01" + rid(rng, 22),
        "name": "Task",
        "input": {"description": desc, "prompt": prompt, "subagent_type": "general-purpose"},
        "caller": {"type": "direct"},
    }
    pre = prose(rng, size(rng, 0.2))
    uuids = s.assistant([{"type": "text", "text": pre}, blk], len(pre) + len(prompt))
    # the subagent's own transcript
    srng = conv_rng("claude-code", sub_idx)
    start = s.t
    sub = CCSession(srng, st, s.sid, (s.cwd, s.branch), s.ver, s.model, s.t + 0.5, agent=aid)
    n = n_msgs(srng)
    sub.prompt(prompt)
    rem = n - 1
    for _ in range(max(0, (rem - 1) // 2)):
        rem -= sub.tool_round(False)
    result = sub.final()
    base = os.path.join(CTX.out, "home", ".claude", "projects", s.slug, s.sid, "subagents", f"agent-{aid}")
    sub_files.append((base + ".jsonl", b"\n".join(sub.lines) + b"\n", sub.t))
    sub_files.append((base + ".meta.json", orjson.dumps({"agentType": "general-purpose", "spawnDepth": 1}), sub.t))
    st["conversations"] += 1
    s.t = sub.t + 0.5
    tur = {
        "status": "completed",
        "prompt": prompt,
        "agentId": aid,
        "content": [{"type": "text", "text": result}],
        "totalDurationMs": int(1000 * (sub.t - start)),
        "totalTokens": sub.ctx_tokens + sub.out_tokens,
        "totalToolUseCount": sub.tool_uses,
        "usage": {
            "input_tokens": 8,
            "cache_creation_input_tokens": sub.new_tokens,
            "cache_read_input_tokens": sub.ctx_tokens,
            "output_tokens": sub.out_tokens,
        },
    }
    # the result text duplicates the subagent's final answer (as the real CLI does); not counted as new text
    s.tool_result(uuids[-1], blk["id"], [{"type": "text", "text": result}], tur)
    st["chars"] -= len(result)
    return 2


def chunk_claude_code(start: int, count: int) -> dict:
    st = Stats()
    end = start + count
    i = start
    while i < end:
        i += gen_claude_code(i, i + 1 < end, st)
    return {"provider": "claude-code", "blob": None, "stats": st, "extra": []}


# --------------------------------------------------------------------------
# Codex
# --------------------------------------------------------------------------


def codex_version_model(rng, t):
    if t < E2025_11:
        return f"0.{rng.randint(39, 58)}.0", "gpt-5-codex"
    if t < E2026_02:
        return f"0.{rng.randint(60, 99)}.0", rng.choice(("gpt-5.1-codex", "gpt-5.1-codex-max", "gpt-5.2-codex"))
    return f"0.{rng.randint(104, 140)}.0", rng.choice(("gpt-5.3-codex", "gpt-5.2-codex", "gpt-5.3-codex"))


ENV_CTX = (
    "<environment_context>\n  <cwd>{cwd}</cwd>\n  <approval_policy>on-request</approval_policy>\n"
    "  <sandbox_mode>workspace-write</sandbox_mode>\n  <network_access>restricted</network_access>\n"
    "  <shell>bash</shell>\n</environment_context>"
)
DEV_MSG = (
    "<permissions instructions>Filesystem sandboxing defines which files can be read or written. "
    "sandbox_mode is `workspace-write`: The sandbox permits reading files, and editing files in `cwd` and "
    "`writable_roots`. Approval policy is currently on-request.</permissions instructions>"
)
BASE_INSTR = (
    "You are Codex, based on GPT-5. You are running as a coding agent in the Codex CLI on a user's "
    "computer.\n\n## General\n\n- The arguments to `shell` will be passed to execvp(). Most terminal "
    'commands should be prefixed with ["bash", "-lc"].\n- Always set the `workdir` param when using '
    "the shell function.\n- When searching for text or files, prefer using `rg` or `rg --files`."
)


def gen_codex(idx: int, st: Stats) -> None:
    rng = conv_rng("codex", idx)
    n = n_msgs(rng)
    t0 = t = start_time(rng, "codex")
    ver, model = codex_version_model(rng, t0)
    new = t0 >= E2026_02
    sid = uuid7(rng, t0)
    cwd, slug, branch, _ = rng.choice(CTX.projects)
    lines = []
    dumps = orjson.dumps

    def ev(typ, payload):
        lines.append(dumps({"timestamp": iso(t), "type": typ, "payload": payload}))

    def msg(role, kind, body, phase=None):
        p = {"type": "message", "role": role, "content": [{"type": kind, "text": body}]}
        if phase:
            p["phase"] = phase
        ev("response_item", p)

    meta = {"id": sid, "timestamp": iso(t0), "cwd": cwd, "originator": "codex_cli_rs", "cli_version": ver}
    if new:
        meta["source"] = "cli"
        meta["model_provider"] = "openai"
        meta["base_instructions"] = {"text": BASE_INSTR}
    else:
        meta["instructions"] = None
    meta["git"] = {
        "commit_hash": "%040x" % rng.getrandbits(160),
        "branch": branch,
        "repository_url": f"git@github.com:{HOME_USER}/{slug.rsplit('-', 1)[-1]}.git",
    }
    ev("session_meta", meta)
    if new:
        msg("developer", "input_text", DEV_MSG)
        st["context"] += 1
    msg("user", "input_text", ENV_CTX.format(cwd=cwd))
    st["context"] += 1
    tot = {
        "input_tokens": 0,
        "cached_input_tokens": 0,
        "output_tokens": 0,
        "reasoning_output_tokens": 0,
        "total_tokens": 0,
    }
    ctx_tok = rng.randint(6000, 12000)
    used = 1.0 + 30 * rng.random()
    reset = int(t0) + rng.randint(600, 18000)

    def limits():
        rl = {
            "primary": {"used_percent": round(used, 1), "window_minutes": 300, "resets_at": reset},
            "secondary": {"used_percent": round(used / 4, 1), "window_minutes": 10080, "resets_at": reset + 400000},
        }
        if new:
            rl = {
                "limit_id": "codex",
                "limit_name": None,
                **rl,
                "credits": {"has_credits": False, "unlimited": False, "balance": None},
                "plan_type": None,
            }
        return rl

    def token_count(out_chars, twice=False):
        nonlocal ctx_tok, used
        o = 1 + out_chars // 4
        rs = rng.randint(0, 400)
        last = {
            "input_tokens": ctx_tok,
            "cached_input_tokens": int(ctx_tok * 0.8) // 128 * 128,
            "output_tokens": o + rs,
            "reasoning_output_tokens": rs,
            "total_tokens": ctx_tok + o + rs,
        }
        for k in tot:
            tot[k] += last[k]
        ctx_tok += o + rs
        used += 0.05
        payload = {
            "type": "token_count",
            "info": {
                "total_token_usage": dict(tot),
                "last_token_usage": last,
                "model_context_window": 258400 if new else None,
            },
            "rate_limits": limits(),
        }
        ev("event_msg", payload)
        if twice:
            ev("event_msg", payload)

    def reasoning():
        nonlocal t
        s = "**" + title(rng) + "**\n\n" + prose(rng, size(rng, 0.25))
        st["reasoning"] += 1
        st["chars"] += len(s)
        ev("event_msg", {"type": "agent_reasoning", "text": s})
        ev(
            "response_item",
            {
                "type": "reasoning",
                "summary": [{"type": "summary_text", "text": s}],
                "content": None,
                "encrypted_content": "gAAAAAB" + blob64(rng, 400),
            },
        )
        t += 0.01
        return len(s)

    def say(body, phase):
        st["assistant"] += 1
        st["chars"] += len(body)
        am = {"type": "agent_message", "message": body}
        if new:
            am["phase"] = phase
        ev("event_msg", am)
        msg("assistant", "output_text", body, phase if new else None)

    remaining = n
    first = True
    while remaining >= 2:
        t += 20 + 600 * rng.random()
        turn_id = uuid7(rng, t)
        if new:
            ev(
                "event_msg",
                {
                    "type": "task_started",
                    "turn_id": turn_id,
                    "model_context_window": 258400,
                    "collaboration_mode_kind": "default",
                },
            )
        prompt = text(rng, size(rng, 0.6), 0.1)
        st["user"] += 1
        st["chars"] += len(prompt)
        msg("user", "input_text", prompt)
        um = {"type": "user_message", "message": prompt}
        um.update({"images": [], "local_images": [], "text_elements": []} if new else {"kind": "plain"})
        ev("event_msg", um)
        ctx_tok += len(prompt) // 4
        remaining -= 1
        tc = {"turn_id": turn_id} if new else {}
        tc.update(
            {
                "cwd": cwd,
                "approval_policy": "on-request",
                "sandbox_policy": {
                    "type": "workspace-write",
                    "writable_roots": [cwd],
                    "network_access": False,
                    "exclude_tmpdir_env_var": False,
                    "exclude_slash_tmp": False,
                }
                if new
                else {"mode": "workspace-write", "network_access": False},
                "model": model,
                "effort": "medium",
                "summary": "auto",
            }
        )
        ev("turn_context", tc)
        if first:
            ev("event_msg", {"type": "token_count", "info": None, "rate_limits": limits()})
            first = False
        r = min(rounds(rng), (remaining - 2) // 3)
        for _ in range(r):
            t += 1 + 6 * rng.random()
            oc = reasoning()
            remaining -= 1
            if remaining >= 5 and rng.random() < 0.35:
                oc += 1
                say(prose(rng, size(rng, 0.25)), "commentary")
                remaining -= 1
            call_id = "call_" + rid(rng, 24)
            cmd = rng.choice(B.bash)
            if new:
                name, args = "exec_command", {"cmd": cmd, "workdir": cwd, "yield_time_ms": 10000}
            else:
                name, args = "shell", {"command": ["bash", "-lc", cmd], "workdir": cwd, "timeout_ms": 120000}
            arg_s = dumps(args).decode()
            st["tool_call"] += 1
            st["chars"] += len(cmd)
            ev("response_item", {"type": "function_call", "name": name, "arguments": arg_s, "call_id": call_id})
            token_count(oc + len(arg_s), twice=new and rng.random() < 0.3)
            big = rng.random() < TAIL_P
            out = tool_out(rng, rng.choice(("log", "test", "ls", "grep", "code", "trace")), big)
            code = 1 if rng.random() < 0.05 else 0
            dur = 0.01 + 3 * rng.random()
            t += dur
            if new:
                res = (
                    f"Chunk ID: {rng.getrandbits(24):06x}\nWall time: {dur:.4f} seconds\n"
                    f"Process exited with code {code}\nOriginal token count: {len(out) // 4}\nOutput:\n{out}"
                )
            else:
                res = dumps(
                    {"output": out, "metadata": {"exit_code": code, "duration_seconds": round(dur, 1)}}
                ).decode()
            st["tool_result"] += 1
            st["chars"] += len(out)
            ev("response_item", {"type": "function_call_output", "call_id": call_id, "output": res})
            ctx_tok += len(out) // 4
            remaining -= 2
        t += 1 + 10 * rng.random()
        oc = 0
        if remaining >= 2:
            oc = reasoning()
            remaining -= 1
        body = text(rng, size(rng, 1.0), 0.25)
        say(body, "final_answer")
        remaining -= 1
        token_count(oc + len(body), twice=new and rng.random() < 0.3)
        if new:
            ev("event_msg", {"type": "task_complete", "turn_id": turn_id, "last_agent_message": body})
    lt = _gmtime(int(t0) + LOCAL_TZ_OFFSET)
    path = os.path.join(
        CTX.out,
        "home",
        ".codex",
        "sessions",
        _strftime("%Y/%m/%d", lt),
        _strftime("rollout-%Y-%m-%dT%H-%M-%S", lt) + f"-{sid}.jsonl",
    )
    write_file(path, b"\n".join(lines) + b"\n", t, st)
    st["conversations"] += 1


def chunk_codex(start: int, count: int) -> dict:
    st = Stats()
    for i in range(start, start + count):
        gen_codex(i, st)
    return {"provider": "codex", "blob": None, "stats": st, "extra": []}


# --------------------------------------------------------------------------
# Gemini CLI (old single-JSON chats)
# --------------------------------------------------------------------------

GEMINI_TOOLS = ("run_shell_command", "run_shell_command", "read_file", "search_file_content", "glob", "replace")


def gen_gemini_cli(idx: int, st: Stats) -> None:
    rng = conv_rng("gemini-cli", idx)
    n = n_msgs(rng)
    t0 = t = start_time(rng, "gemini-cli")
    new = t0 >= E2026
    model = (
        rng.choice(("gemini-3-pro-preview", "gemini-3-flash-preview"))
        if new
        else rng.choice(("gemini-2.5-pro", "gemini-2.5-pro", "gemini-2.5-flash"))
    )
    sid = uid(rng)
    cwd = (proj := rng.choice(CTX.projects))[0]
    phash = proj[3]
    msgs = []
    ctx_tok = rng.randint(8000, 14000)

    def thoughts(when):
        out = []
        for _ in range(rng.randint(1, 3)):
            d = prose(rng, size(rng, 0.2))
            st["chars"] += len(d)
            out.append({"subject": title(rng), "description": d, "timestamp": iso(when)})
        return out

    def tokens(out_chars, tool_chars=0):
        o = 1 + out_chars // 4
        th = rng.randint(20, 600)
        tool = tool_chars // 4
        cached = int(ctx_tok * 0.7) if rng.random() < 0.6 else 0
        return {
            "input": ctx_tok,
            "output": o,
            "cached": cached,
            "thoughts": th,
            "tool": tool,
            "total": ctx_tok + o + th + tool,
        }

    def tool_call(when):
        name = rng.choice(GEMINI_TOOLS)
        big = rng.random() < TAIL_P
        if name == "run_shell_command":
            args = {"command": rng.choice(B.bash), "description": short(rng, 5)}
            out = tool_out(rng, rng.choice(("log", "test", "ls", "trace")), big)
            out = f"Command: {args['command']}\nDirectory: (root)\nOutput: {out}\nError: (none)\nExit Code: 0"
            display = out
        elif name == "read_file":
            args = {"absolute_path": f"{cwd}/{rng.choice(B.paths)}"}
            out = tool_out(rng, "code", big)
            display = ""
        elif name == "search_file_content":
            args = {"pattern": rng.choice(B.snake)}
            out = tool_out(rng, "grep", big)
            display = f"Found {out.count(chr(10)) + 1} matches"
        elif name == "glob":
            args = {"pattern": "**/*" + rng.choice(EXTS)}
            out = "\n".join(f"{cwd}/{p}" for p in rng.choices(B.paths, k=rng.randint(1, 25)))
            display = f"Found {out.count(chr(10)) + 1} matching file(s)"
        else:
            old = "\n".join(rng.choices(B.code, k=rng.randint(1, 5)))
            new_s = "\n".join(rng.choices(B.code, k=rng.randint(1, 6)))
            fp = f"{cwd}/{rng.choice(B.paths)}"
            args = {"file_path": fp, "old_string": old, "new_string": new_s, "instruction": prose(rng, 80)}
            out = f"Successfully modified file: {fp} (1 replacements)."
            display = {
                "fileDiff": "\n".join("-" + x for x in old.split("\n"))
                + "\n"
                + "\n".join("+" + x for x in new_s.split("\n")),
                "fileName": fp.rsplit("/", 1)[-1],
            }
        cid = f"{name}-{int(when * 1000)}-{rng.getrandbits(48):012x}" if not new else rid(rng, 8).lower()
        st["chars"] += len(out)
        return {
            "id": cid,
            "name": name,
            "args": args,
            "result": [{"functionResponse": {"id": cid, "name": name, "response": {"output": out}}}],
            "status": "success",
            "timestamp": iso(when),
            "resultDisplay": display,
            "displayName": name.replace("_", " ").title(),
            "description": short(rng, 6),
            "renderOutputAsMarkdown": name != "run_shell_command",
        }, len(out)

    remaining = n
    while remaining >= 2:
        t += 20 + 600 * rng.random()
        body = text(rng, size(rng, 0.6), 0.1)
        st["user"] += 1
        st["chars"] += len(body)
        msgs.append({"id": uid(rng), "timestamp": iso(t), "type": "user", "content": body})
        ctx_tok += len(body) // 4
        remaining -= 1
        r = min(rounds(rng), remaining - 1)
        for _ in range(r):
            t += 2 + 8 * rng.random()
            calls, tc = [], 0
            for _ in range(2 if rng.random() < 0.15 else 1):
                c, k = tool_call(t + 1)
                calls.append(c)
                tc += k
            pre = prose(rng, size(rng, 0.2)) if rng.random() < 0.5 else ""
            st["assistant"] += 1
            st["chars"] += len(pre)
            msgs.append(
                {
                    "id": uid(rng),
                    "timestamp": iso(t),
                    "type": "gemini",
                    "content": pre,
                    "thoughts": thoughts(t - 1),
                    "tokens": tokens(len(pre) + 80, tc),
                    "model": model,
                    "toolCalls": calls,
                }
            )
            ctx_tok += tc // 4 + len(pre) // 4
            t += 1 + 2 * rng.random()
            remaining -= 1
        t += 2 + 15 * rng.random()
        ans = text(rng, size(rng, 1.0), 0.25)
        st["assistant"] += 1
        st["chars"] += len(ans)
        msgs.append(
            {
                "id": uid(rng),
                "timestamp": iso(t),
                "type": "gemini",
                "content": ans,
                "thoughts": thoughts(t - 2),
                "tokens": tokens(len(ans)),
                "model": model,
            }
        )
        ctx_tok += len(ans) // 4
        remaining -= 1
    doc = {"sessionId": sid, "projectHash": phash, "startTime": iso(t0), "lastUpdated": iso(t)}
    if new:
        doc["kind"] = "main"
    doc["messages"] = msgs
    name = _strftime("session-%Y-%m-%dT%H-%M", _gmtime(int(t0))) + f"-{sid[:8]}.json"
    path = os.path.join(CTX.out, "home", ".gemini", "tmp", phash, "chats", name)
    write_file(path, orjson.dumps(doc, option=orjson.OPT_INDENT_2), t, st)
    st["conversations"] += 1


def chunk_gemini_cli(start: int, count: int) -> dict:
    st = Stats()
    for i in range(start, start + count):
        gen_gemini_cli(i, st)
    return {"provider": "gemini-cli", "blob": None, "stats": st, "extra": []}


# --------------------------------------------------------------------------
# Google AI Studio
# --------------------------------------------------------------------------

SAFETY = [
    {"category": c, "threshold": "OFF"}
    for c in (
        "HARM_CATEGORY_HARASSMENT",
        "HARM_CATEGORY_HATE_SPEECH",
        "HARM_CATEGORY_SEXUALLY_EXPLICIT",
        "HARM_CATEGORY_DANGEROUS_CONTENT",
    )
]


def _parts(rng, body, thought=False):
    """Streaming fragments whose concatenation equals the chunk text."""
    k = rng.randint(2, 4)
    step = max(1, len(body) // k)
    cuts = [body[i : i + step] for i in range(0, len(body), step)]
    return [{"text": c, "thought": True} if thought else {"text": c} for c in cuts]


def gen_aistudio(idx: int, st: Stats) -> None:
    rng = conv_rng("gemini", idx)
    n = n_msgs(rng)
    t0 = t = start_time(rng, "gemini")
    model = (
        "models/gemini-1.5-pro-latest"
        if t0 < E2025
        else "models/gemini-2.5-pro"
        if t0 < E2026
        else rng.choice(("models/gemini-3-pro-preview", "models/gemini-2.5-pro"))
    )
    thinking = t0 >= E2025
    chunks = []
    remaining = n
    while remaining >= 2:
        body = text(rng, size(rng, 0.6), 0.08)
        st["user"] += 1
        st["chars"] += len(body)
        chunks.append({"text": body, "role": "user", "tokenCount": 1 + len(body) // 4})
        remaining -= 1
        if thinking and remaining >= 2 and rng.random() < 0.4:
            th = "**" + title(rng) + "**\n\n" + prose(rng, size(rng, 0.4))
            st["reasoning"] += 1
            st["chars"] += len(th)
            chunks.append(
                {
                    "text": th,
                    "role": "model",
                    "tokenCount": 1 + len(th) // 4,
                    "isThought": True,
                    "thinkingBudget": -1,
                    "parts": _parts(rng, th, True),
                }
            )
            remaining -= 1
        ans = text(rng, size(rng, 1.4), 0.15)
        st["assistant"] += 1
        st["chars"] += len(ans)
        c = {"text": ans, "role": "model", "finishReason": "STOP", "tokenCount": 1 + len(ans) // 4}
        if thinking and rng.random() < 0.5:
            c["parts"] = _parts(rng, ans)
        chunks.append(c)
        remaining -= 1
        t += 30 + 600 * rng.random()
    rs = {
        "temperature": 1,
        "model": model,
        "topP": 0.95,
        "topK": 64,
        "maxOutputTokens": 65536,
        "safetySettings": SAFETY,
        "responseMimeType": "text/plain",
        "enableCodeExecution": False,
        "enableSearchAsATool": False,
        "enableBrowseAsATool": False,
        "enableAutoFunctionResponse": False,
    }
    if thinking:
        rs["thinkingBudget"] = -1
    si = {"text": prose(rng, 200)} if rng.random() < 0.3 else {}
    doc = {
        "runSettings": rs,
        "systemInstruction": si,
        "chunkedPrompt": {"chunks": chunks, "pendingInputs": [{"text": "", "role": "user"}]},
    }
    name = f"{title(rng)} {idx + 1}".replace("/", "-")
    write_file(os.path.join(CTX.out, "aistudio", name), orjson.dumps(doc, option=orjson.OPT_INDENT_2), t, st)
    st["conversations"] += 1


def chunk_gemini(start: int, count: int) -> dict:
    st = Stats()
    for i in range(start, start + count):
        gen_aistudio(i, st)
    return {"provider": "gemini", "blob": None, "stats": st, "extra": []}


CHUNK_FN = {
    "chatgpt": chunk_chatgpt,
    "claude": chunk_claude,
    "claude-code": chunk_claude_code,
    "codex": chunk_codex,
    "gemini": chunk_gemini,
    "gemini-cli": chunk_gemini_cli,
}


def run_task(task) -> dict:
    provider, start, count = task
    CTX.unit = CTX.units[provider]
    CTX.tool_unit = CTX.unit
    _TOOL[:] = [0, 0, 0, 0]
    res = CHUNK_FN[provider](start, count)
    st = res["stats"]
    st["tool_outputs"], st["big_tool_outputs"], st["big_chars"], st["tool_chars"] = _TOOL
    return res


# --------------------------------------------------------------------------
# Driver
# --------------------------------------------------------------------------


class Ctx:
    def __init__(self, out, seed, messages, chars, tool_heavy, raw_units=False):
        self.out, self.seed, self.messages, self.chars = out, seed, messages, chars
        self.tool_heavy = tool_heavy
        self.round_mean = 4.0 if tool_heavy else 1.2
        self.think_p = 0.45
        rng = random.Random(0xC0DE_0000 + seed)
        self.account = uid(rng)
        projects = []
        for i in range(48):
            name = rng.choice(B.snake).replace("_", "-") if i % 3 else rng.choice(B.vocab[300:3000])
            cwd = f"/home/{HOME_USER}/{rng.choice(('projects', 'src', 'code', 'work'))}/{name}"
            slug = cwd.replace("/", "-").replace(".", "-").replace("_", "-")
            projects.append(
                (
                    cwd,
                    slug,
                    rng.choice(("main", "main", "master", f"feat/{name}")),
                    hashlib.sha256(cwd.encode()).hexdigest(),
                )
            )
        self.projects = projects
        # Unit length per provider.  Default mix: dialogue is scaled by k_p so
        # that each provider's mean over counted messages stays ~= chars despite
        # the 10-100 KB tool-output tail.  Model (see CALIBRATION):
        #   mean chars/message = A_p + B_p * k * chars / 500 + T_p
        # A_p: parts that do not scale (Edit/Glob outputs, tool inputs),
        # B_p: parts that scale with the unit, T_p: expected tail chars/message.
        # With --tool-heavy (or small --chars where that is impossible) the
        # tail comes on top, so the mean is larger.
        self.units = {}
        for p in PROVIDERS:
            a_, b_, t_ = CALIBRATION[p]
            k = 1.0 if (tool_heavy or raw_units) else (chars - t_ - a_) / (b_ * chars / 500)
            self.units[p] = chars * min(4.0, max(0.25, k))
        self.unit = self.tool_unit = float(chars)


# (A_p, B_p, T_p) fitted from --raw-units runs and a second run at the derived k
# (--conversations 3000 --messages 50 --chars 500).
CALIBRATION = {
    "chatgpt": (29.4, 479.6, 47.0),
    "claude": (0.0, 556.8, 0.0),
    "claude-code": (111.5, 328.5, 286.0),
    "codex": (12.8, 273.7, 166.6),
    "gemini": (0.0, 481.9, 0.0),
    "gemini-cli": (142.5, 483.0, 250.2),
}


def apportion(n: int, weights: dict) -> dict:
    tot = sum(weights.values())
    raw = {p: n * w / tot for p, w in weights.items()}
    out = {p: int(v) for p, v in raw.items()}
    left = n - sum(out.values())
    for p in sorted(raw, key=lambda p: (-(raw[p] - out[p]), PROVIDER_NO[p]))[:left]:
        out[p] += 1
    return out


class ZipOut:
    def __init__(self, path, member, level):
        os.makedirs(os.path.dirname(path), exist_ok=True)
        self.path = path
        self.level = level
        self.zf = zipfile.ZipFile(path, "w", compression=zipfile.ZIP_DEFLATED, compresslevel=level)
        self.fh = self.zf.open(self._info(member), "w", force_zip64=True)
        self.fh.write(b"[")
        self.first = True

    def _info(self, name):
        zi = zipfile.ZipInfo(name, date_time=EXPORT_DATE)
        zi.compress_type = zipfile.ZIP_DEFLATED
        zi.external_attr = 0o644 << 16
        for attr in ("compress_level", "_compresslevel"):  # 3.13+ / 3.11-3.12 (slotted)
            try:
                setattr(zi, attr, self.level)
                break
            except AttributeError:
                pass
        return zi

    def add(self, blob: bytes):
        if not blob:
            return
        if not self.first:
            self.fh.write(b",")
        self.fh.write(blob)
        self.first = False

    def close(self, side: dict) -> int:
        self.fh.write(b"]")
        self.fh.close()
        for name, data in side.items():
            self.zf.writestr(self._info(name), data)
        self.zf.close()
        return os.path.getsize(self.path)


def side_files(provider: str, extra: list) -> dict:
    rng = random.Random(0x51DE_0000 + CTX.seed)
    if provider == "chatgpt":
        return {
            "user.json": orjson.dumps(
                {
                    "id": "user-" + rid(rng, 24),
                    "email": f"{HOME_USER}@example.com",
                    "chatgpt_plus_user": True,
                    "phone_number": None,
                }
            ),
            "message_feedback.json": orjson.dumps(extra),
        }
    projects = []
    for _ in range(3):
        t = DATE_RANGE["claude"][0] + 5e7 * rng.random()
        projects.append(
            {
                "uuid": uid(rng),
                "name": title(rng),
                "description": prose(rng, 100),
                "is_private": True,
                "is_starter_project": False,
                "prompt_template": "",
                "created_at": iso6(t),
                "updated_at": iso6(t + 86400),
                "creator": {"uuid": CTX.account, "full_name": "Alex Example"},
                "docs": [{"uuid": uid(rng), "filename": "notes.md", "content": prose(rng, 600), "created_at": iso6(t)}],
            }
        )
    return {
        "users.json": orjson.dumps(
            [
                {
                    "uuid": CTX.account,
                    "full_name": "Alex Example",
                    "email_address": f"{HOME_USER}@example.com",
                    "verified_phone_number": None,
                }
            ]
        ),
        "projects.json": orjson.dumps(projects),
    }


def build_tasks(counts: dict) -> list:
    per = {p: [(p, s, min(CHUNK[p], c - s)) for s in range(0, c, CHUNK[p])] for p, c in counts.items() if c}
    # interleave providers so the parent's zip writing is spread over the run
    tasks = []
    queues = [deque(v) for v in per.values()]
    total = sum(len(q) for q in queues)
    weights = [len(q) / total for q in queues]
    credit = [0.0] * len(queues)
    while any(queues):
        for i, q in enumerate(queues):
            if q:
                credit[i] += weights[i]
        i = max((j for j, q in enumerate(queues) if q), key=lambda j: credit[j])
        credit[i] -= 1
        tasks.append(queues[i].popleft())
    return tasks


def main(argv=None) -> dict:
    ap = argparse.ArgumentParser(
        description=__doc__.split("\n\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument("out")
    ap.add_argument("--conversations", type=int)
    ap.add_argument("--messages", type=int)
    ap.add_argument("--chars", type=int, default=500)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--providers", default=",".join(PROVIDERS))
    ap.add_argument("--tool-heavy", action="store_true")
    ap.add_argument("--smoke", action="store_true", help="tiny: 12 conversations of ~6 messages")
    ap.add_argument("--workers", type=int, default=os.cpu_count() or 1)
    ap.add_argument("--zip-level", type=int, default=1, help="deflate level of the export zips")
    ap.add_argument("--raw-units", action="store_true", help=argparse.SUPPRESS)  # calibration
    a = ap.parse_args(argv)
    if a.conversations is None:
        a.conversations = 12 if a.smoke else 1000
    if a.messages is None:
        a.messages = 6 if a.smoke else 50
    providers = [p.strip() for p in a.providers.split(",") if p.strip()]
    bad = [p for p in providers if p not in PROVIDERS]
    if bad or not providers:
        ap.error(f"unknown provider(s) {bad}; choose from {','.join(PROVIDERS)}")
    providers = [p for p in PROVIDERS if p in providers]
    weights = {p: (TOOL_HEAVY_WEIGHTS[p] if a.tool_heavy else 1) for p in providers}
    counts = apportion(a.conversations, weights)

    t_start = time.perf_counter()
    global B, CTX
    out = os.path.abspath(a.out)
    os.makedirs(out, exist_ok=True)
    B = Bank(a.seed)
    CTX = Ctx(out, a.seed, a.messages, a.chars, a.tool_heavy, a.raw_units)

    tasks = build_tasks(counts)
    zips = {
        p: ZipOut(os.path.join(out, p, f"{p}-export.zip"), "conversations.json", a.zip_level)
        for p in ZIP_PROVIDERS
        if p in providers
    }
    extras = {p: [] for p in zips}
    stats = {p: Stats() for p in providers}

    def consume(res):
        p = res["provider"]
        if res["blob"] is not None:
            zips[p].add(res["blob"])
            extras[p].extend(res["extra"])
        stats[p].merge(res["stats"])

    workers = max(1, min(a.workers, len(tasks)))
    if workers == 1:
        for task in tasks:
            consume(run_task(task))
    else:
        window = workers * 3
        with ProcessPoolExecutor(max_workers=workers, mp_context=mp.get_context("fork")) as ex:
            pending = deque()
            it = iter(tasks)
            for task in itertools.islice(it, window):
                pending.append(ex.submit(run_task, task))
            while pending:
                res = pending.popleft().result()
                nxt = next(it, None)
                if nxt is not None:
                    pending.append(ex.submit(run_task, nxt))
                consume(res)
    for p, z in zips.items():
        stats[p]["bytes"] += z.close(side_files(p, extras[p]))
        stats[p]["files"] += 1

    by_provider = {}
    for p in providers:
        s = stats[p]
        msgs = sum(s[k] for k in KINDS)
        by_provider[p] = {
            "conversations": s["conversations"],
            "messages": msgs,
            "files": s["files"],
            "bytes": s["bytes"],
            "chars": s["chars"],
            "avg_chars": round(s["chars"] / msgs, 1) if msgs else 0,
            "kinds": {k: s[k] for k in KINDS + ("context",)},
            "tool_outputs": s.get("tool_outputs", 0),
            "big_tool_outputs": s.get("big_tool_outputs", 0),
            "big_chars": s.get("big_chars", 0),
            "tool_output_chars": s.get("tool_chars", 0),
        }
    n_msgs_total = sum(v["messages"] for v in by_provider.values())
    chars = sum(v["chars"] for v in by_provider.values())
    secs = time.perf_counter() - t_start
    summary = {
        "out": out,
        "conversations": sum(v["conversations"] for v in by_provider.values()),
        "messages": n_msgs_total,
        "bytes": sum(v["bytes"] for v in by_provider.values()),
        "files": sum(v["files"] for v in by_provider.values()),
        "seconds": round(secs, 3),
        "avg_chars": round(chars / n_msgs_total, 1) if n_msgs_total else 0,
        "seed": a.seed,
        "tool_heavy": a.tool_heavy,
        "by_provider": by_provider,
    }
    sys.stdout.write(orjson.dumps(summary).decode() + "\n")
    sys.stdout.flush()
    return summary


if __name__ == "__main__":
    main()
