"""No import circle inside pas_mm: lower layers never import higher ones.

The imports are read from the source (``ast``, function-level ones
included), not executed, so a circle that only a lazy import hides is
found too.
"""
import ast
import os.path as osp
from pathlib import Path
from typing import Dict, List, Set

from conftest import ROOT


def module_names(package_dir: Path) -> Dict[str, Path]:
    """Dotted module name -> file, for every ``.py`` under the package."""
    root = package_dir.parent
    names = {}
    for path in sorted(package_dir.rglob('*.py')):
        parts = list(path.relative_to(root).with_suffix('').parts)
        if parts[-1] == '__init__':
            parts = parts[:-1]
        names['.'.join(parts)] = path
    return names


def import_graph(package_dir: Path) -> Dict[str, Set[str]]:
    """Module -> the modules of the same package it imports.

    ``from A import n`` is an edge to ``A.n`` where that is a module of the
    package, else to ``A``; relative imports are resolved against the
    importing module's package.
    """
    modules = module_names(package_dir)
    graph = {}
    for name, path in modules.items():
        package = name if path.name == '__init__.py' else name.rpartition(
            '.')[0]
        edges = set()
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if isinstance(node, ast.Import):
                targets = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom):
                base = node.module or ''
                if node.level:
                    up = package.split('.')
                    up = up[:len(up) - node.level + 1]
                    base = '.'.join(up + ([base] if base else []))
                targets = [f'{base}.{a.name}' if f'{base}.{a.name}' in modules
                           else base for a in node.names]
            else:
                continue
            edges.update(t for t in targets if t in modules and t != name)
        graph[name] = edges
    return graph


def find_cycles(graph: Dict[str, Set[str]]) -> List[List[str]]:
    """One cycle (a list of modules, first repeated last) per strongly
    connected group of modules (Tarjan)."""
    index, low, stack, on_stack, groups = {}, {}, [], set(), []

    def connect(v):
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in sorted(graph[v]):
            if w not in index:
                connect(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            group = set()
            while True:
                w = stack.pop()
                on_stack.discard(w)
                group.add(w)
                if w == v:
                    break
            if len(group) > 1:
                groups.append(group)

    for v in sorted(graph):
        if v not in index:
            connect(v)
    return [cycle_in(graph, g) for g in groups]


def cycle_in(graph: Dict[str, Set[str]], group: Set[str]) -> List[str]:
    """A shortest cycle through the group's first module (breadth-first)."""
    start = min(group)
    paths = {start: [start]}
    frontier = [start]
    while frontier:
        nxt = []
        for v in frontier:
            for w in sorted(graph[v] & group):
                if w == start:
                    return paths[v] + [start]
                if w not in paths:
                    paths[w] = paths[v] + [w]
                    nxt.append(w)
        frontier = nxt
    raise AssertionError(f'no cycle through {start}')


def test_pas_mm_has_no_import_cycle():
    cycles = find_cycles(import_graph(Path(ROOT) / 'pas_mm'))
    assert not cycles, 'import circle(s) in pas_mm: ' + '; '.join(
        ' -> '.join(c) for c in cycles)


# pas_mm's layers, lowest first: a module imports only its own layer's
# modules or lower ones (models never import deploy; deploy never the GAN)
LAYERS = [('pas_mm.compat', 'pas_mm.errors'),
          ('pas_mm.ops', ),
          ('pas_mm.budget', ),
          ('pas_mm.datasets', 'pas_mm.models'),
          ('pas_mm.cli', 'pas_mm.config_check', 'pas_mm.hooks'),
          ('pas_mm.deploy', ),
          ('pas_mm.benchmark', 'pas_mm.gan'),
          ('pas_mm', )]


def layer(module: str) -> int:
    part = '.'.join(module.split('.')[:2])
    for i, names in enumerate(LAYERS):
        if part in names:
            return i
    raise AssertionError(f'{part} is in no layer of LAYERS; add it there')


def test_lower_layers_never_import_higher_ones():
    graph = import_graph(Path(ROOT) / 'pas_mm')
    upward = sorted(f'{a} -> {b}' for a, targets in graph.items()
                    for b in targets if layer(a) < layer(b))
    assert not upward, 'imports from a lower layer to a higher one: ' + \
        ', '.join(upward)


def test_the_walker_finds_a_lazy_circle_and_names_it(tmp_path):
    pkg = tmp_path / 'pkg'
    (pkg / 'low').mkdir(parents=True)
    (pkg / '__init__.py').write_text('from . import low, high\n')
    (pkg / 'low' / '__init__.py').write_text('from .core import f\n')
    (pkg / 'low' / 'core.py').write_text(
        'import os\n\ndef f():\n    from ..high import g\n    return g\n')
    (pkg / 'high.py').write_text('from .low.core import f\ng = f\n')
    graph = import_graph(pkg)
    assert graph['pkg'] == {'pkg.low', 'pkg.high'}
    assert graph['pkg.low.core'] == {'pkg.high'}
    assert find_cycles(graph) == [['pkg.high', 'pkg.low.core', 'pkg.high']]


def test_the_walker_sees_the_real_layers():
    graph = import_graph(Path(ROOT) / 'pas_mm')
    assert 'pas_mm.models.pas_model' in graph['pas_mm.models']
    assert 'pas_mm.models' in graph['pas_mm.deploy.export']
    assert osp.isfile(osp.join(ROOT, 'pas_mm', 'deploy', 'export.py'))
