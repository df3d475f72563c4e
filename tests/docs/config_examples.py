#!/usr/bin/python3
"""config_examples.py - the configuration the docs show is configuration the
daemons accept.

An operator copies the examples of docs/ and README.md; a key renamed in the
code, or a rule between keys added, must not leave them an example that stops
the start. So:

1. Every code block of edge.conf or core.conf is accepted by
   `causeway-edge -t` / `causeway-core -t`, without a warning.
   - A complete example (its first line is `# /etc/causeway/edge.conf ...` or
     `... core.conf ...`) is checked as it stands.
   - A snippet (a few sections) is checked inside the first complete example
     of its daemon that has all of its sections (else the first one): each of its keys replaces that key's lines in the same
     section, and a section the example lacks is added. Which daemon: the
     sections only one of them has, else the keys (`[tunnel] edge =` and
     `[turn] server =` are the core's).
   - Paths under /etc/causeway, /var/lib/causeway, /var/log/causeway and
     /run/causeway are moved into a scratch directory, where the files the
     check reads are made: a certificate for each `.pem` (its key for the
     `.key` beside it), a random key file for any other `.key`, a hex string
     for a `.secret`.
2. Every systemd unit in a code block (`[Unit]`) is the one that make
   install installs (dist/NAME.in, with /usr/local/bin), and passes
   `systemd-analyze verify` without a word, the programs' path pointed at
   this build.
3. The logrotate file the docs show is dist/logrotate, and `logrotate -d`
   finds no error in it.

Usage: config_examples.py TOP; TAP lines, then "N passed, N failed".
"""
import glob
import os
import re
import shutil
import subprocess
import sys
import tempfile

from mdcode import blocks

CORE_ONLY = {'core', 'dns', 'xmpp', 'cluster'}
EDGE_ONLY = {'edge', 'webproxy', 'federation'}
SECTIONS = CORE_ONLY | EDGE_ONLY | {'tunnel', 'turn', 'admin'}
MOVED = ('/etc/causeway', '/var/lib/causeway', '/var/log/causeway', '/run/causeway')
DIR_KEYS = {'state-dir'}


def parse(text):
    """The file as [section, [(key, value, line)]] in order; comments are
    dropped, and a line that is no `key = value` is kept whole as a key
    without a value, for the daemon to refuse."""
    out = []
    for raw in text.split('\n'):
        s = raw.strip()
        if not s or s[0] in '#;':
            continue
        m = re.fullmatch(r'\[([\w.-]+)\]', s)
        if m:
            out.append([m.group(1), []])
        elif out and '=' in s:
            k, v = s.split('=', 1)
            out[-1][1].append((k.strip(), v.strip(), raw))
        elif out:
            out[-1][1].append((s, None, raw))
    return out


def kind(text, conf):
    m = re.match(r'\s*#\s*/etc/causeway/(edge|core)\.conf', text)
    if m:
        return m.group(1), True
    names = {s for s, _ in conf}
    if names & CORE_ONLY:
        return 'core', False
    if names & EDGE_ONLY:
        return 'edge', False
    keys = {(s, k) for s, kv in conf for k, _, _ in kv}
    if ('tunnel', 'edge') in keys or ('turn', 'server') in keys:
        return 'core', False
    return 'edge', False


def merge(base, snippet):
    """base with each key of snippet replacing that key in its section."""
    out = [[s, list(kv)] for s, kv in base]
    for sec, kv in snippet:
        into = [b for b in out if b[0] == sec]
        if not into:
            out.append([sec, list(kv)])
            continue
        keys = {k for k, _, _ in kv}
        for b in into:
            b[1] = [x for x in b[1] if x[0] not in keys]
        into[0][1].extend(kv)
    return out


def render(conf):
    return ''.join(f'[{s}]\n' + ''.join(k + ('' if v is None else f' = {v}') + '\n'
                                         for k, v, _ in kv) for s, kv in conf)


class Scratch:
    """A directory standing in for the host's /etc/causeway and the rest."""

    def __init__(self):
        self.root = tempfile.mkdtemp(prefix='cw-docs-conf.')
        self.cert = None

    def move(self, text):
        for top in MOVED:
            text = text.replace(top, self.root + top)
        return text

    def make_files(self, conf):
        for sec, kv in conf:
            for k, v, _ in kv:
                for p in re.findall(re.escape(self.root) + r'/[\w./-]+', v or ''):
                    self.make(k, p, v)

    def make(self, key, path, value):
        os.makedirs(os.path.dirname(path), exist_ok=True)
        if key in DIR_KEYS:
            os.makedirs(path, exist_ok=True)
            return
        if os.path.exists(path):
            return
        stem, ext = os.path.splitext(path)
        if ext == '.pem':
            shutil.copy(self.pair()[0], path)
        elif ext == '.key' and (stem + '.pem' in value or os.path.exists(stem + '.pem')):
            shutil.copy(self.pair()[1], path)
            os.chmod(path, 0o600)
        elif ext == '.key':
            with open(path, 'wb') as f:
                f.write(os.urandom(32))
            os.chmod(path, 0o600)
        elif ext == '.secret':
            with open(path, 'w') as f:
                f.write(os.urandom(32).hex() + '\n')
            os.chmod(path, 0o600)

    def pair(self):
        if not self.cert:
            crt, key = os.path.join(self.root, 'ex.pem'), os.path.join(self.root, 'ex.key')
            subprocess.run(['openssl', 'req', '-x509', '-newkey', 'ec', '-pkeyopt',
                            'ec_paramgen_curve:P-256', '-nodes', '-days', '2', '-subj',
                            '/CN=example.com', '-addext',
                            'subjectAltName=DNS:example.com,DNS:*.example.com',
                            '-keyout', key, '-out', crt],
                           check=True, capture_output=True)
            self.cert = (crt, key)
        return self.cert


def check_conf(top, scratch, name, daemon, conf):
    conf = parse(scratch.move(render(conf)))
    scratch.make_files(conf)
    path = os.path.join(scratch.root, f'{daemon}-{len(os.listdir(scratch.root))}.conf')
    with open(path, 'w') as f:
        f.write(render(conf))
    r = subprocess.run([os.path.join(top, 'build', 'bin', f'causeway-{daemon}'), '-t', '-c',
                        path], capture_output=True, text=True)
    out = (r.stderr + r.stdout).strip()
    warned = [l for l in out.split('\n') if re.search(r' (warn|error) \w+: ', l)]
    if r.returncode == 0 and not warned:
        print(f'ok - {name}: causeway-{daemon} -t accepts it without a warning')
        return True
    if r.returncode == 0:
        out = '\n'.join(warned).replace(scratch.root, '').replace('\n', '\n#   ')
        print(f'not ok - {name}: causeway-{daemon} -t warns\n#   {out}')
        return False
    m = re.search(re.escape(path) + r':(\d+):', out)
    if m:
        out += '\n  which is: ' + render(conf).split('\n')[int(m.group(1)) - 1]
    out = out.replace(scratch.root, '').replace('\n', '\n#   ')
    print(f'not ok - {name}: causeway-{daemon} -t refuses it\n#   {out}')
    return False


def same_as_dist(top, name, text, dist, fix=lambda t: t):
    path = os.path.join(top, 'dist', dist)
    if os.path.exists(path) and fix(open(path, encoding='utf-8').read()) == text:
        print(f'ok - {name}: the same as dist/{dist}, which make install installs')
        return True
    print(f'not ok - {name}: not the same as dist/{dist}, which make install installs')
    return False


def check_unit(top, scratch, name, text, unit):
    text = text.replace('/usr/local/bin/', os.path.join(os.path.abspath(top), 'build', 'bin', ''))
    path = os.path.join(scratch.root, unit)
    with open(path, 'w') as f:
        f.write(text)
    r = subprocess.run(['systemd-analyze', 'verify', path], capture_output=True, text=True)
    out = (r.stderr + r.stdout).strip().replace(scratch.root + '/', '')
    if r.returncode == 0 and not out:
        print(f'ok - {name}: systemd-analyze verify has nothing to say')
        return True
    print(f'not ok - {name}: systemd-analyze verify: rc {r.returncode}\n#   ' +
          out.replace('\n', '\n#   '))
    return False


def check_logrotate(top, scratch, name):
    r = subprocess.run(['logrotate', '-d', '-s', os.path.join(scratch.root, 'logrotate.state'),
                        os.path.join(top, 'dist', 'logrotate')], capture_output=True, text=True)
    errors = [l for l in (r.stderr + r.stdout).split('\n') if l.startswith('error:')]
    if r.returncode == 0 and not errors:
        print(f'ok - {name}: logrotate -d finds no error')
        return True
    print(f'not ok - {name}: logrotate -d: rc {r.returncode}\n#   ' + '\n#   '.join(errors))
    return False


def main():
    top = sys.argv[1]
    docs = sorted(glob.glob(os.path.join(top, 'docs', '*.md'))) + [os.path.join(top, 'README.md')]
    scratch = Scratch()
    full, snippets, units, rotates = {}, [], [], []
    for doc in docs:
        rel = os.path.relpath(doc, top)
        for line, text, prose in blocks(doc):
            name = f'{rel}:{line}'
            if re.search(r'^\[Unit\]\s*$', text, re.M):
                # the unit's file name is in the prose just before it
                m = re.findall(r'([\w@.-]+\.service)', prose)
                units.append((name, text, m[-1] if m else 'example.service'))
            if '/etc/logrotate.d/causeway' in prose.strip().split('\n\n')[-1]:
                rotates.append((name, text))
            conf = parse(text)
            if conf and all(s in SECTIONS for s, _ in conf):
                daemon, complete = kind(text, conf)
                if complete:
                    full.setdefault(daemon, []).append((name, conf))
                else:
                    snippets.append((name, daemon, conf))
    results = []
    for daemon in ('edge', 'core'):
        if daemon not in full:
            print(f'not ok - no complete {daemon}.conf example in the docs')
            results.append(False)
    for daemon, exs in sorted(full.items()):
        results += [check_conf(top, scratch, name, daemon, conf) for name, conf in exs]
    for name, daemon, conf in snippets:
        if daemon not in full:
            continue
        # the first complete example with all of the snippet's sections
        secs = {s for s, _ in conf}
        base_name, base = next((x for x in full[daemon] if secs <= {s for s, _ in x[1]}),
                               full[daemon][0])
        results.append(check_conf(top, scratch, f'{name} (in {base_name})', daemon,
                                  merge(base, conf)))
    if not units:
        print('not ok - no systemd unit in the docs')
        results.append(False)
    for name, text, unit in units:
        results += [same_as_dist(top, name, text, unit + '.in',
                                 lambda t: t.replace('@BINDIR@/', '/usr/local/bin/')),
                    check_unit(top, scratch, name, text, unit)]
    if not rotates:
        print('not ok - no logrotate file in the docs')
        results.append(False)
    for name, text in rotates:
        results += [same_as_dist(top, name, text, 'logrotate'),
                    check_logrotate(top, scratch, name)]
    passed, failed = results.count(True), results.count(False)
    shutil.rmtree(scratch.root, ignore_errors=True)
    print(f'{passed} passed, {failed} failed')
    return 1 if failed else 0


if __name__ == '__main__':
    sys.exit(main())
