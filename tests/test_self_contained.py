"""The repository cites only sources a reader can follow (papers,
reference repositories with file names, its own docs): no citation of a
private specification."""
import os
import os.path as osp

from tests.helpers import REPO

WORD = 'SP' + 'EC'  # not spelled out, so this file does not match itself
SKIP_DIRS = {'.git', '.venv', 'work_dirs', 'data', '__pycache__', '.mim'}


def test_no_private_spec_citation():
    """Rules out a comment, docstring or doc page pointing at a document
    that is not part of the repository."""
    hits = []
    for root, dirs, files in os.walk(REPO):
        dirs[:] = [d for d in dirs if d not in SKIP_DIRS]
        for name in files:
            if not name.endswith(('.py', '.md', '.sh', '.txt', '.toml',
                                  '.ini', '.cfg', '.in')):
                continue
            path = osp.join(root, name)
            with open(path, encoding='utf-8', errors='replace') as f:
                for i, line in enumerate(f, 1):
                    if WORD in line:
                        hits.append(f'{osp.relpath(path, REPO)}:{i}')
    assert not hits, hits


def test_no_test_module_imports_another():
    """Shared fixtures live in conftest.py, shared builders in helper
    modules (tests/helpers.py, tests/e2e_helpers.py, tiny_models.py, ...):
    importing a test module would also collect and couple its tests."""
    import ast
    hits = []
    for root, _, files in os.walk(osp.join(REPO, 'tests')):
        for name in files:
            if not name.endswith('.py'):
                continue
            path = osp.join(root, name)
            with open(path, encoding='utf-8') as f:
                tree = ast.parse(f.read())
            for node in ast.walk(tree):
                mods = []
                if isinstance(node, ast.ImportFrom) and node.module:
                    mods = [node.module] + [
                        f'{node.module}.{a.name}' for a in node.names
                    ]
                elif isinstance(node, ast.Import):
                    mods = [a.name for a in node.names]
                hits += [
                    f'{osp.relpath(path, REPO)}: {m}' for m in mods
                    if m.startswith('tests.')
                    and m.split('.')[-1].startswith('test_')
                    and m.split('.')[-1] not in ('test_engine',
                                                 'test_models',
                                                 'test_tools',
                                                 'test_datasets',
                                                 'test_utils')
                ]
    assert not hits, hits
