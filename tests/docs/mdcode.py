"""mdcode.py - the fenced code blocks of a Markdown file, for the docs
checks: taken out (config_examples.py) or blanked (log_lines.py, links.py:
a '#' line there is no heading, a backtick no quote)."""
import re

# A fence, indented as in a list item, its info string, its body, its end.
FENCE = re.compile(r'^([ \t]*)```[^\n]*\n(.*?)^[ \t]*```', re.S | re.M)


def blank(text):
    """text with every code block made spaces; lines and columns stay."""
    return FENCE.sub(lambda m: re.sub(r'[^\n]', ' ', m.group(0)), text)


def blocks(path):
    """(line, text, prose before it) of each code block of path, its
    indentation taken off."""
    with open(path, encoding='utf-8') as f:
        text = f.read()
    end = 0
    for m in FENCE.finditer(text):
        indent = m.group(1)
        lines = [l[len(indent):] if l.startswith(indent) else l
                 for l in m.group(2).split('\n')]
        yield text[:m.start()].count('\n') + 1, '\n'.join(lines), text[end:m.start()]
        end = m.end()
