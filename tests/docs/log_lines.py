#!/usr/bin/python3
"""log_lines.py - the docs and the daemons' log lines agree.

docs/troubleshooting.md is keyed by log lines, and the other docs quote some
too: `warn webproxy: 502 for CLIENT (Host "HOST"): ...`. A message reworded in
the code leaves an operator searching the docs for a line that is not there;
a new warning without an entry leaves them with no fix. So:

1. Every quoted line `LEVEL COMPONENT: MESSAGE` (in `...` or ``...``, on one
   line or over a line break) is one the daemons print: something logs at
   that level for that component, and one of the code's format strings
   prints MESSAGE: its literal parts in order, each %-conversion filled with
   - a placeholder of the docs (CLIENT, PATH, N, Ns, 30, /var/lib/...,
     `a|b`, `...`) or a single lower-case word (`over udp`, `read with`),
   - text that another of the code's format strings prints (a reason made
     elsewhere), found the same way,
   - or a message that only exists at run time: strerror, libuv, OpenSSL and
     c-ares texts, taken from those libraries; sshd's own lines (component
     sshd, which the edge passes on) are matched against sshd's formats.
   A MESSAGE that ends in "..." is the start of such a line, and "(...)"
   stands for a parenthesis of it.
2. Every warn and error line of the code (a CW_WARN or CW_ERROR, or a
   cw_daemon_reload_error, with a format of its own, not "%s") has an entry:
   a quoted line in docs/ that it prints.

Usage: log_lines.py TOP [DOC...] (default: all of TOP/docs/*.md, and then
check 2); TAP lines, then "N passed, N failed".
"""
import glob
import os
import re
import subprocess
import sys

from mdcode import blank

CODE_DIRS = ('edge', 'core', 'common', 'webproxy', 'xmpp', 'turn', 'cli', 'admin')
RUNTIME = ('libuv.so.1', 'libc.so.6', 'libssl.so.3', 'libcrypto.so.3', 'libcares.so.2',
           'libssh2.so.1')
SSHD = '/usr/sbin/sshd'    # its own lines, which the edge passes on (component sshd)
LIB_DIRS = ('/usr/lib/x86_64-linux-gnu', '/lib/x86_64-linux-gnu', '/usr/lib', '/lib')
MACRO = {'error': 'CW_ERROR', 'warn': 'CW_WARN', 'notice': 'CW_NOTICE', 'info': 'CW_INFO',
         'debug': 'CW_DEBUG'}

LITERAL = re.compile(r'"((?:[^"\\\n]|\\.)*)"')
SPEC = re.compile(r'%[-+ #0]*(?:\*|\d+)?(?:\.(?:\*|\d+))?(?:hh|h|ll|l|z|j|t|L)?[diouxXscpfeEgG]')
PRI = re.compile(r'"\s*PRI[a-zA-Z0-9]+\s*"')
ALARM = re.compile(r'\bCW_(ERROR|WARN)\(\s*(?:[A-Za-z_]+|"[a-z0-9-]+")\s*,\s*"((?:[^"\\\n]|\\.)*)"')
LOGCALL = re.compile(r'\b(CW_ERROR|CW_WARN|CW_NOTICE|CW_INFO|CW_DEBUG)\(\s*([A-Za-z_]+|"[a-z0-9-]+")')
RELOAD_SAY = re.compile(r'\bcw_daemon_reload_(error|notice)\(\s*\w+\s*,')
DEFINE = re.compile(r'#define\s+([A-Z_]+)\s+"([a-z0-9-]+)"')
QUOTED = re.compile(r'``\s?(.+?)\s?``|`([^`]+)`', re.S)    # ``a `b` c`` or `a`
LOGLINE = re.compile(r'(error|warn|notice|info|debug) ([a-z0-9-]+): (.*)', re.S)
# What may stand where the code has a conversion: one or several of the
# docs' placeholders (CLIENT, Ns, TCP/TLS), numbers and addresses (30s,
# 192.0.2.10, [::1]), paths, `...` and alternatives (valid|invalid), between
# separators; or a single lower-case word (`over udp`).
TOKEN = re.compile(r'-|[A-Z][A-Z0-9_/-]*s?|[\w.\[\]-]*\d[\w.\[\]-]*|/[\w./-]+|\.\.\.|[\w.-]+(?:\|[\w.-]+)+')
SEPARATORS = re.compile(r'[ ,=:]+')
WORD = re.compile(r'[a-z][a-z0-9-]*')


def placeholders(g):
    g = g[1:] if g[:1] in '("\'' else g
    g = g[:-1] if g[-1:] in ')"\'' else g
    return WORD.fullmatch(g) or all(TOKEN.fullmatch(t) for t in SEPARATORS.split(g) if t)


def pieces_of(fmt):
    """The literal parts of a format, between its conversions."""
    return [p.replace('%%', '%') for p in SPEC.split(fmt)]


def unescape(s):
    return re.sub(r'\\(.)', lambda m: {'n': '\n', 't': '\t'}.get(m.group(1), m.group(1)), s)


class Code:
    """The code's format strings, as patterns, and the (macro, component)
    pairs it logs with."""

    def __init__(self, top):
        calls, names, fmts, alarms = [], {}, set(), []
        for d in CODE_DIRS:
            for path in sorted(glob.glob(os.path.join(top, d, '*.[ch]'))):
                src = open(path, encoding='utf-8', errors='replace').read()
                src = re.sub(r'/\*.*?\*/', ' ', src, flags=re.S)
                src = PRI.sub('', src)               # "%" PRIu64 "": a conversion
                src = re.sub(r'"\s+"', '', src)      # "a" "b" is one literal
                # A reload's lines are logged (and told to `reload`) by these.
                src = RELOAD_SAY.sub(lambda m: 'CW_' + m.group(1).upper() + '(', src)
                names.update(DEFINE.findall(src))
                calls += LOGCALL.findall(src)
                for m in ALARM.finditer(src):
                    f = unescape(m.group(2))
                    if re.search(r'[A-Za-z]{3}', f):                    # not "%s"
                        alarms.append((os.path.relpath(path, top), f, pieces_of(f)))
                fmts.update(unescape(m.group(1)) for m in LITERAL.finditer(src))
        fmts.update(self._strings(SSHD).splitlines())
        self.pairs = {(m, names.get(c, c.strip('"'))) for m, c in calls}
        self.alarms = alarms        # (file, format, pieces) of each warn and error line
        split = [pieces_of(f) for f in fmts]
        # The most text first: a line's own format is found before the
        # formats that merely fit it. Each is (rank, longest piece, pieces,
        # generic): "%s: %s" or "%s %s (%s, id %llu)" could fit most texts,
        # so only a whole line may be one of those.
        split.sort(key=lambda pieces: -len(''.join(pieces)))
        self.formats = [(i, max(pieces, key=len), pieces,
                         not re.search(r'[A-Za-z]{3}', ''.join(pieces)))
                        for i, pieces in enumerate(p for p in split if ''.join(p).strip())]
        self.by_start = {}                          # first piece -> formats
        for f in self.formats:
            self.by_start.setdefault(f[2][0], []).append(f)
        self.runtime = {t.lower() for lib in RUNTIME for t in self._strings(lib).splitlines()}
        self.memo = {}

    @staticmethod
    def _strings(lib):
        for d in ('',) if lib.startswith('/') else LIB_DIRS:
            p = os.path.join(d, lib)
            if os.path.exists(p):
                return subprocess.run(['strings', '-n', '6', p], capture_output=True,
                                      text=True).stdout
        return ''

    def prints(self, text, prefix=False, depth=0):
        """Whether some format string prints text (prefix: the docs cut the
        line short after text)."""
        key = (text, prefix)
        if key in self.memo:
            return self.memo[key]
        self.memo[key] = False                      # no text is its own fill
        # formats that start as text does (or, cut short, as text goes on)
        cands = [f for k in range(len(text) + 1) for f in self.by_start.get(text[:k], ())]
        if prefix:
            cands += [f for f in self.formats if len(f[2][0]) > len(text) and f[2][0].startswith(text)]
        ok = any(self.fits(pieces, text, prefix, depth) for _, longest, pieces, generic in sorted(cands)
                 if (depth == 0 or not generic) and may_fit(pieces, longest, text, prefix))
        self.memo[key] = ok
        return ok

    def fits(self, pieces, text, prefix, depth=0):
        """Matches text against the format's pieces, trying each place where
        a conversion's text may end. "(...)" in the text stands for a
        parenthesis of the format."""
        n, last, seen = len(text), len(pieces) - 1, set()
        # a text cut short must reach into the format's own text: "PATH: line
        # N: ..." is not "%s NOT usable: %s" with everything in its first %s
        enough = min(4, sum(map(len, pieces)), n)

        def closing(k, o):      # just after the next ")" from piece k, offset o
            for k2 in range(k, last + 1):
                c = pieces[k2].find(')', o if k2 == k else 0)
                if c >= 0:
                    return k2, c + 1
            return None

        def at(k, o, i):        # piece k, offset o in it; text position i
            if (k, o, i) in seen:
                return False
            seen.add((k, o, i))
            if i == n:
                if prefix:
                    return sum(map(len, pieces[:k])) + o >= enough
                return o == len(pieces[k]) and not ''.join(pieces[k + 1:])
            piece = pieces[k]
            if o < len(piece):
                if text[i] == piece[o] and at(k, o + 1, i + 1):
                    return True
                after = piece[o] == '(' and text.startswith('(...)', i) and closing(k, o)
                return bool(after) and at(after[0], after[1], i + 5)
            if k == last:
                return False
            nxt = pieces[k + 1][:8]
            return any(starts(j, nxt) and self.fill(text[i:j], depth, prefix and j == n) and
                       at(k + 1, 0, j) for j in range(i, n + 1))

        def starts(j, lit):     # whether the text at j may be the literal lit
            for c in lit:
                if c == '(' and text.startswith('(...)', j):
                    return True
                if j == n or text[j] != c:
                    return j == n and prefix
                j += 1
            return True
        return at(0, 0, 0)

    def fill(self, g, depth, prefix=False):
        """Whether g may be what a conversion put there."""
        if g == '' or placeholders(g) or g.lower() in self.runtime:
            return True
        return depth < 2 and re.search(r'\S[ .]\w', g) and self.prints(g, prefix, depth + 1)


def may_fit(pieces, longest, text, prefix):
    """A quick test before fits: the format's longest piece is in text, or
    text cut short has the start of one of its pieces (fits wants 4
    characters of them), or text stands "(...)" for a part of it."""
    return (longest in text or '(...)' in text or
            prefix and (len(text) < 4 or any(p[:4] in text for p in pieces if p)))


def quotes(doc):
    """(line number, text) of each log line that doc quotes; a quote may
    go on over a line break."""
    text = open(doc, encoding='utf-8').read()
    text = blank(text)    # line breaks stay, for the line numbers
    for m in QUOTED.finditer(text):
        q = re.sub(r'\s*\n\s*', ' ', m.group(1) or m.group(2))
        if '\n\n' not in (m.group(1) or m.group(2)) and LOGLINE.fullmatch(q):
            yield text.count('\n', 0, m.start()) + 1, q


def check_docs(code, top, docs):
    """Each doc's quoted log lines are lines the code prints; returns the
    quoted lines as (level, component, message)."""
    quoted, passed, failed = [], 0, 0
    for doc in docs:
        name = os.path.relpath(doc, top)
        n, bad = 0, []
        for ln, q in quotes(doc):
            level, comp, msg = LOGLINE.fullmatch(q).groups()
            quoted.append((level, comp, msg))
            n += 1
            why = []
            if (MACRO[level], comp) not in code.pairs:
                why.append(f'nothing logs at {level} for "{comp}"')
            # "from|to ADDR": each alternative on its own
            variants = {msg, re.sub(r'\b(\w+)\|\w+\b', r'\1', msg),
                        re.sub(r'\b\w+\|(\w+)\b', r'\1', msg)}
            if not any(code.prints(*cut(v)) for v in variants):
                why.append('no format string of the code prints it')
            if why:
                bad.append(f'#   {name}:{ln}: `{q}`: ' + '; '.join(why))
        if not n:
            continue
        if bad:
            failed += 1
            print(f'not ok - {name}: {len(bad)} of {n} quoted log lines are not what the code prints')
            print('\n'.join(bad))
        else:
            passed += 1
            print(f'ok - {name}: the {n} quoted log lines are what the code prints')
    return quoted, passed, failed


def cut(msg):
    """(text, prefix): a message that ends in "..." is the start of a line."""
    return (msg[:-3].rstrip(), True) if msg.endswith('...') else (msg, False)


def check_code(code, quoted):
    """Each warn and error line of the code has its entry in the docs: some
    quoted line (with at least a few characters of its own) is one it prints."""
    lines = [cut(msg) for level, _, msg in quoted if level in ('warn', 'error')]
    lines = [(t, p) for t, p in lines if len(t) >= 8]
    miss = [f'#   {where}: {fmt}' for where, fmt, pieces in code.alarms
            if not any(may_fit(pieces, max(pieces, key=len), t, p) and code.fits(pieces, t, p)
                       for t, p in lines)]
    if miss:
        print(f'not ok - {len(miss)} of {len(code.alarms)} warn and error lines of the code have '
              'no entry in docs/ (troubleshooting.md: the line, its cause, the fix)')
        print('\n'.join(miss))
        return 0, 1
    print(f'ok - each of the {len(code.alarms)} warn and error lines of the code has its entry in docs/')
    return 1, 0


def main():
    top = sys.argv[1]
    docs = sys.argv[2:] or sorted(glob.glob(os.path.join(top, 'docs', '*.md')))
    code = Code(top)
    quoted, passed, failed = check_docs(code, top, docs)
    if not sys.argv[2:]:
        p, f = check_code(code, quoted)
        passed, failed = passed + p, failed + f
    print(f'{passed} passed, {failed} failed')
    return 1 if failed else 0

if __name__ == '__main__':
    sys.exit(main())
