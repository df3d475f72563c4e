#!/usr/bin/python3
"""links.py - every link between the docs leads somewhere.

The docs point into each other by heading (`troubleshooting.md#web-proxy`);
a heading reworded, or a troubleshooting entry keyed by a log line that
changed, leaves such links dead. So every relative link in README.md and
docs/*.md must name a file of the repository and, with a #fragment, a
heading of that file, by the anchors GitHub makes: lower case, punctuation
but '-' and '_' dropped, spaces as '-', a repeated heading with -1, -2...

Usage: links.py TOP; TAP lines, then "N passed, N failed".
"""
import glob
import os
import re
import sys

from mdcode import blank


def anchors(path):
    seen, out = {}, set()
    with open(path, encoding='utf-8') as f:
        text = blank(f.read())
    for m in re.finditer(r'^#{1,6} +(.*?) *#*$', text, re.M):
        slug = re.sub(r'[^\w\- ]', '', m.group(1).lower()).replace(' ', '-')
        n = seen.get(slug, -1) + 1
        seen[slug] = n
        out.add(slug if n == 0 else f'{slug}-{n}')
    return out


def main():
    top = sys.argv[1]
    docs = [os.path.join(top, 'README.md')] + sorted(glob.glob(os.path.join(top, 'docs', '*.md')))
    cache, bad, n = {}, [], 0
    for doc in docs:
        with open(doc, encoding='utf-8') as f:
            text = f.read()
        body = blank(text)
        for m in re.finditer(r'\]\(([^()\s]+)\)', body):
            link = m.group(1)
            if re.match(r'[a-z]+:', link):
                continue
            n += 1
            path, _, frag = link.partition('#')
            target = os.path.normpath(os.path.join(os.path.dirname(doc), path)) if path else doc
            where = f'{os.path.relpath(doc, top)}:{body[:m.start()].count(chr(10)) + 1}'
            if not os.path.exists(target):
                bad.append(f'#   {where}: {link}: no such file')
            elif frag and target.endswith('.md'):
                if target not in cache:
                    cache[target] = anchors(target)
                if frag not in cache[target]:
                    bad.append(f'#   {where}: {link}: no such heading')
    if bad:
        print(f'not ok - {len(bad)} of {n} links between the docs lead nowhere')
        print('\n'.join(bad))
        print('0 passed, 1 failed')
        return 1
    print(f'ok - the {n} links between the docs lead to a file and heading')
    print('1 passed, 0 failed')
    return 0


if __name__ == '__main__':
    sys.exit(main())
