#!/usr/bin/env python3
"""Checks a report page written by `./tt milestones --html PAGE` (CI runs it
before Chromium renders the page): it parses as HTML, every element opened
is closed in order (HTML's void elements aside), every href="#id" names an id
on the page, every <figure> holds an <svg> with content, and nothing on the
page runs or is fetched: no <script>, no stylesheet, image or font from
elsewhere, no URL at all. Python's standard library only.

  python3 tests/check_report.py PAGE [--dom DOM]

With --dom, DOM is the page as Chromium parsed it (chromium --dump-dom):
it must hold the same figures, each with its <svg>, as the file.
Exits 0 with a one-line summary, or 1 with what is wrong."""
import re
import sys
from html.parser import HTMLParser

VOID = {"area", "base", "br", "col", "embed", "hr", "img", "input", "link", "meta", "source", "track", "wbr"}
FETCHING = {"script", "link", "img", "iframe", "object", "embed", "audio", "video", "source", "image", "use", "base"}
URL_ATTRIBUTES = {"href", "src", "xlink:href", "srcset", "action", "poster", "data", "background", "formaction"}


class Page(HTMLParser):
    def __init__(self, strict):
        super().__init__(convert_charrefs=True)
        self.strict = strict  # the file as tt wrote it: every element closed; Chromium's DOM is looser
        self.open = []        # [name, id, holds_svg, svg_children]
        self.ids = set()
        self.hrefs = []
        self.figures = {}     # figure id -> elements inside its <svg>
        self.problems = []
        self.svg_depth = 0

    def problem(self, text):
        self.problems.append("line %d: %s" % (self.getpos()[0], text))

    def attributes(self, tag, attrs):
        for name, value in attrs:
            if value is None and self.strict:
                self.problem("<%s> attribute %s has no value" % (tag, name))
            value = value or ""
            if name == "id":
                if value in self.ids:
                    self.problem("the id %r twice" % value)
                self.ids.add(value)
            if name in URL_ATTRIBUTES:
                if not value.startswith("#"):
                    self.problem("<%s %s=%r> points off the page" % (tag, name, value))
                if name == "href":
                    self.hrefs.append(value)
            if name.startswith("on"):
                self.problem("<%s> has an event handler %s" % (tag, name))
            if name == "style" and re.search(r"url\(|@import|expression\(", value):
                self.problem("<%s> style fetches: %r" % (tag, value))
        if tag in FETCHING:
            self.problem("<%s> element (runs or fetches)" % tag)

    def handle_starttag(self, tag, attrs):
        self.attributes(tag, attrs)
        if tag == "svg":
            for element in reversed(self.open):
                if element[0] == "figure":
                    element[2] = True
                    break
        if self.svg_depth:
            for element in reversed(self.open):
                if element[0] == "figure":
                    element[3] += 1
                    break
        if tag in VOID:
            return
        if tag == "svg":
            self.svg_depth += 1
        self.open.append([tag, dict(attrs).get("id"), False, 0])

    def handle_startendtag(self, tag, attrs):
        self.attributes(tag, attrs)
        if self.svg_depth:
            for element in reversed(self.open):
                if element[0] == "figure":
                    element[3] += 1
                    break

    def handle_endtag(self, tag):
        if tag in VOID:
            return
        if not self.open:
            self.problem("</%s> closes nothing" % tag)
            return
        if self.open[-1][0] != tag:
            if self.strict or tag not in [e[0] for e in self.open]:
                self.problem("</%s> closes <%s>" % (tag, self.open[-1][0]))
                return
            while self.open[-1][0] != tag:  # the browser's DOM may close <p> and <li> itself
                self.open.pop()
        name, id_, holds_svg, svg_children = self.open.pop()
        if tag == "svg":
            self.svg_depth -= 1
        if tag == "figure":
            if not holds_svg or svg_children == 0:
                self.problem("<figure id=%r> holds no <svg> with content" % id_)
            self.figures[id_] = svg_children

    def handle_data(self, data):
        if self.open and self.open[-1][0] == "style" and re.search(r"url\(|@import|@font-face", data):
            self.problem("the stylesheet fetches or loads a font")


def check(path, strict):
    with open(path, "rb") as f:
        raw = f.read()
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as e:
        return None, ["%s is not valid UTF-8: %s" % (path, e)]
    page = Page(strict)
    page.feed(text)
    page.close()
    problems = page.problems
    if strict:
        if not text.startswith("<!DOCTYPE html>"):
            problems.append("the page does not start with <!DOCTYPE html>")
        if page.open:
            problems.append("never closed: " + " ".join("<%s>" % e[0] for e in page.open))
        if re.search(r"https?:|//[a-z0-9.-]+\.[a-z]{2,}/", text, re.I):
            problems.append("a URL on the page: " + re.search(r".{0,40}(https?:|//[a-z0-9.-]+\.[a-z]{2,}/).{0,40}", text, re.I | re.S).group(0))
    for href in page.hrefs:
        if href.startswith("#") and href[1:] not in page.ids:
            problems.append("href=%r: no element has that id" % href)
    return page, problems


def main():
    args = sys.argv[1:]
    if len(args) not in (1, 3) or (len(args) == 3 and args[1] != "--dom"):
        sys.exit(__doc__)
    page, problems = check(args[0], True)
    if page is not None and not page.figures:
        problems.append("the page has no figure")
    if page is not None and len(args) == 3:
        dom, dom_problems = check(args[2], False)
        problems += ["in Chromium's DOM: " + p for p in dom_problems]
        if dom is not None:
            missing = [f for f in page.figures if f not in dom.figures]
            if missing:
                problems.append("Chromium's DOM lacks the figures " + ", ".join(missing))
    if problems:
        for p in problems[:20]:
            print("check_report: %s: %s" % (args[0], p), file=sys.stderr)
        sys.exit(1)
    print("check_report: %s: well formed, self-contained, %d links resolve, %d figures each with its SVG%s"
          % (args[0], len(page.hrefs), len(page.figures), " (also in Chromium's DOM)" if len(args) == 3 else ""))


if __name__ == "__main__":
    main()
