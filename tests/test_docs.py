"""The README stays short and its links, and the docs pages', resolve."""
import re
from pathlib import Path

from conftest import ROOT

LINK = re.compile(r'\[[^\]]*\]\(([^)\s]+)\)')


def text_of(path: Path) -> str:
    """Markdown without HTML comments (placeholders) and code blocks."""
    text = re.sub(r'<!--.*?-->', '', path.read_text(), flags=re.S)
    return re.sub(r'```.*?```', '', text, flags=re.S)


def anchors(path: Path) -> set:
    """GitHub's heading anchors of a markdown file."""
    return {re.sub(r'[^\w\- ]', '', h.strip().lower()).replace(' ', '-')
            for h in re.findall(r'^#+ (.*)$', text_of(path), flags=re.M)}


def local_links(path: Path):
    for target in LINK.findall(text_of(path)):
        if '://' not in target and not target.startswith('mailto:'):
            yield target


def test_readme_is_short():
    lines = (Path(ROOT) / 'README.md').read_text().splitlines()
    assert len(lines) <= 200, len(lines)


def test_every_local_link_and_anchor_resolves():
    root = Path(ROOT)
    broken = []
    for page in [root / 'README.md', *sorted((root / 'docs').rglob('*.md'))]:
        for target in local_links(page):
            file, _, anchor = target.partition('#')
            dest = (page.parent / file).resolve() if file else page
            if not dest.exists():
                broken.append(f'{page.relative_to(root)}: {target}')
            elif anchor and dest.suffix == '.md' and \
                    anchor not in anchors(dest):
                broken.append(f'{page.relative_to(root)}: {target} (anchor)')
    assert not broken, broken


def test_every_topic_page_is_linked_from_the_readme():
    root = Path(ROOT)
    linked = {(root / t.partition('#')[0]).resolve()
              for t in local_links(root / 'README.md')}
    pages = sorted((root / 'docs').glob('*.md'))
    assert pages
    assert not [p.name for p in pages if p.resolve() not in linked]


def test_anchors_follow_github():
    page = Path(ROOT) / 'docs' / 'model_families.md'
    assert 'pas-light-mobileone' in anchors(page)
    assert 'repvgg-b1---pas-abc' in anchors(page)
