"""Mutation testing of the plugin's modules against the tests mapped to them.

Each mutant is one small AST-level change to one module (a comparison
flipped, ``+``/``-`` swapped, a constant changed, a call statement or a
keyword argument dropped, two positional arguments swapped, ``and``/``or``
swapped, a ``not`` dropped). The module's mapped tests (the committed table
``tools/misc/mutation_targets.json``) run once per mutant on a private copy
of the repository; a mutant is *killed* when they fail, *survived* when they
pass. Survivors are printed as diffs: each is a plausible wrong version of
the code that no test notices (or an equivalent change).

Not part of CI (minutes per module). Usage::

    OMP_NUM_THREADS=1 nice -n 5 python tools/misc/mutation_test.py \
        mmseg_uda/utils/rank_agreement.py [more modules | --all] \
        [--max-mutants 30] [--seed 0] [--json out.json]

Runs are repeatable: the mutants are enumerated in source order and, where
there are more than ``--max-mutants``, a seeded sample of them is taken (the
same sample while the module's code is unchanged). Each mutant's tests run in
a forked child of a process that has already imported torch/mmengine/mmcv
(not the plugin, which each child imports fresh from the copy), under a
timeout of ``3 x`` the unmutated run plus 20 s; the child's whole process
group is ended on a timeout (a timeout counts as killed).

Why not mutmut: mutmut 3 first runs the whole test suite to map tests to
functions (~8 min on 2 cores here) and mutates every module of the package;
this driver runs one module's mapped tests only, which is what makes a
module's run take minutes.
"""
import argparse
import ast
import copy
import difflib
import json
import os
import os.path as osp
import random
import shutil
import signal
import sys
import tempfile
import time

REPO = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
TABLE = osp.join(REPO, 'tools', 'misc', 'mutation_targets.json')
# What a private copy of the repository needs to run the tests.
COPIED = ('mmseg_uda', 'tools', 'tests', 'configs', 'pytest.ini',
          'setup.py', 'requirements')

_COMPARE_FLIPS = {
    ast.Lt: ast.LtE, ast.LtE: ast.Lt, ast.Gt: ast.GtE, ast.GtE: ast.Gt,
    ast.Eq: ast.NotEq, ast.NotEq: ast.Eq, ast.Is: ast.IsNot,
    ast.IsNot: ast.Is, ast.In: ast.NotIn, ast.NotIn: ast.In,
}
_BINOP_SWAPS = {
    ast.Add: ast.Sub, ast.Sub: ast.Add, ast.Mult: ast.Div, ast.Div: ast.Mult,
    ast.FloorDiv: ast.Div, ast.Mod: ast.FloorDiv,
}


def load_table(path: str = TABLE) -> dict:
    """The committed module -> tests table (``{module: [test, ...]}``; a test
    is a file or a pytest node id)."""
    with open(path) as f:
        table = json.load(f)
    return {k: v for k, v in table.items() if not k.startswith('_')}


def _is_docstring(node, parent) -> bool:
    return (isinstance(node, ast.Expr)
            and isinstance(node.value, ast.Constant)
            and isinstance(node.value.value, str))


def _site_mutations(node):
    """(description, mutate(node) -> None) pairs for one AST node; ``mutate``
    changes a deep copy in place."""
    out = []
    if isinstance(node, ast.Compare):
        for i, op in enumerate(node.ops):
            new = _COMPARE_FLIPS.get(type(op))
            if new is not None:
                out.append((f'{type(op).__name__} -> {new.__name__}',
                            lambda n, i=i, new=new: n.ops.__setitem__(
                                i, new())))
    elif isinstance(node, (ast.BinOp, ast.AugAssign)):
        new = _BINOP_SWAPS.get(type(node.op))
        if new is not None:
            out.append((f'{type(node.op).__name__} -> {new.__name__}',
                        lambda n, new=new: setattr(n, 'op', new())))
    elif isinstance(node, ast.BoolOp):
        new = ast.Or if isinstance(node.op, ast.And) else ast.And
        out.append((f'{type(node.op).__name__} -> {new.__name__}',
                    lambda n, new=new: setattr(n, 'op', new())))
    elif isinstance(node, ast.UnaryOp) and isinstance(
            node.op, (ast.Not, ast.USub)):
        out.append((f'drop {type(node.op).__name__}', None))
    elif isinstance(node, ast.Constant) and not isinstance(node.value, str):
        v = node.value
        if isinstance(v, bool):
            out.append((f'{v} -> {not v}',
                        lambda n: setattr(n, 'value', not n.value)))
        elif isinstance(v, (int, float)):
            new = v + 1 if v == 0 or isinstance(v, int) else v * 2
            out.append((f'{v!r} -> {new!r}',
                        lambda n, new=new: setattr(n, 'value', new)))
    elif isinstance(node, ast.Call):
        for i, kw in enumerate(node.keywords):
            if kw.arg is not None:
                out.append((f'drop keyword {kw.arg}=',
                            lambda n, i=i: n.keywords.pop(i)))
        pos = [a for a in node.args if not isinstance(a, ast.Starred)]
        if len(pos) >= 2 and len(pos) == len(node.args):
            out.append(('swap arguments 1 and 2', lambda n: n.args.__setitem__(
                slice(0, 2), [n.args[1], n.args[0]])))
    return out


class _Replace(ast.NodeTransformer):
    """Replaces the node with a given index (walk order) by ``new``."""

    def __init__(self, index, new):
        self.index, self.new, self.count = index, new, -1

    def visit(self, node):
        self.count += 1
        if self.count == self.index:
            return self.new
        return self.generic_visit(node)


def _drop_statement(stmt):
    return ast.Pass(lineno=stmt.lineno, col_offset=stmt.col_offset)


def enumerate_mutants(source: str):
    """Every mutant of a module's source, in source order: dicts with
    ``line``, ``what`` and the mutated ``source`` (``ast.unparse``)."""
    tree = ast.parse(source)
    parents = {}
    for parent in ast.walk(tree):
        for child in ast.iter_child_nodes(parent):
            parents[child] = parent
    nodes = []

    def walk(node):  # the order of _Replace.visit (pre-order)
        nodes.append(node)
        for child in ast.iter_child_nodes(node):
            walk(child)

    walk(tree)
    skip = set()
    for node in nodes:  # no mutants in docstrings or pragma'd lines
        if _is_docstring(node, parents.get(node)):
            skip.update(ast.walk(node))
    lines = source.splitlines()
    mutants = []
    for index, node in enumerate(nodes):
        if node in skip or not hasattr(node, 'lineno'):
            continue
        if 'no mutate' in lines[node.lineno - 1]:
            continue
        sites = _site_mutations(node)
        if isinstance(node, ast.Expr) and isinstance(node.value, ast.Call):
            sites.append(('drop call statement', 'drop'))
        if isinstance(node, ast.AugAssign):
            sites.append(('drop augmented assignment', 'drop'))
        for what, mutate in sites:
            if mutate == 'drop':
                new = _drop_statement(node)
            elif mutate is None:  # drop a unary operator
                new = copy.deepcopy(node.operand)
            else:
                new = copy.deepcopy(node)
                mutate(new)
            mutated = _Replace(index, new).visit(copy.deepcopy(tree))
            ast.fix_missing_locations(mutated)
            mutants.append(dict(line=node.lineno, what=what,
                                source=ast.unparse(mutated)))
    return mutants


def select(mutants, max_mutants, seed):
    """A seeded sample of at most ``max_mutants``, kept in source order
    (the same sample while the module's code is unchanged)."""
    if max_mutants is None or len(mutants) <= max_mutants:
        return list(mutants)
    keep = sorted(random.Random(seed).sample(range(len(mutants)),
                                             max_mutants))
    return [mutants[i] for i in keep]


def make_copy(tree_root: str) -> str:
    dst = tempfile.mkdtemp(prefix='mutation_')
    for name in COPIED:
        src = osp.join(tree_root, name)
        if osp.isdir(src):
            shutil.copytree(src, osp.join(dst, name), ignore=shutil.
                            ignore_patterns('__pycache__', '*.pyc'))
        elif osp.exists(src):
            shutil.copy(src, osp.join(dst, name))
    return dst


def _preload():
    """The heavy imports that are independent of the plugin's code (so that
    every forked child does not pay them); the plugin and mmseg are imported
    by each child from the mutated copy."""
    import cv2  # noqa: F401
    import mmcv  # noqa: F401
    import mmengine.model  # noqa: F401
    import mmengine.runner  # noqa: F401
    import numpy  # noqa: F401
    import pytest  # noqa: F401
    import torch
    torch.set_num_threads(1)


def run_tests(root: str, tests, timeout: float) -> str:
    """Run the tests in a forked child (cwd and sys.path at the copy);
    returns 'passed', 'failed' or 'timeout'. The child leads its own process
    group, ended as a whole on a timeout (tests may start subprocesses)."""
    log = osp.join(root, 'pytest.log')
    pid = os.fork()
    if pid == 0:  # child
        os.setsid()
        try:
            fd = os.open(log, os.O_WRONLY | os.O_CREAT | os.O_TRUNC)
            os.dup2(fd, 1)
            os.dup2(fd, 2)
            os.chdir(root)
            sys.path.insert(0, root)
            os.environ['PYTHONPATH'] = root + os.pathsep + os.environ.get(
                'PYTHONPATH', '')
            # The plugin (from the copy) before any test module: as the
            # suite's conftest does, so that an older tree (whose files
            # could not all run alone) is measured the same way.
            import pytest

            import mmseg_uda  # noqa: F401
            code = pytest.main(['-x', '-q', '-p', 'no:cacheprovider',
                                *tests])
        except BaseException:  # noqa: BLE001 (any failure kills the mutant)
            code = 99
        os._exit(int(code))
    deadline = time.monotonic() + timeout
    while True:
        done, status = os.waitpid(pid, os.WNOHANG)
        if done:
            return 'passed' if os.waitstatus_to_exitcode(status) == 0 \
                else 'failed'
        if time.monotonic() > deadline:
            try:
                os.killpg(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
            os.waitpid(pid, 0)
            return 'timeout'
        time.sleep(0.05)


def _diff(original: str, mutated: str) -> str:
    return ''.join(difflib.unified_diff(
        original.splitlines(True), mutated.splitlines(True), n=0))[
            len('--- \n+++ \n'):].rstrip()


def mutate_module(module, tests, root, max_mutants, seed, verbose=True):
    """Run the mutants of one module (a path relative to the repository);
    returns a summary dict."""
    path = osp.join(root, module)
    with open(path) as f:
        original = f.read()
    tests = [t for t in tests if osp.exists(osp.join(root, t.split('::')[0]))]
    mutants = enumerate_mutants(original)
    chosen = select(mutants, max_mutants, seed)
    t0 = time.monotonic()
    if not tests:  # e.g. an older tree: every mutant survives
        print(f'{module}: none of its mapped tests exists here', flush=True)
        return dict(module=module, mutants=len(mutants), run=len(chosen),
                    killed=0, survived=len(chosen), score=0.0, survivors=[],
                    seconds=0.0, note='no mapped test')
    if run_tests(root, tests, timeout=900) != 'passed':
        raise SystemExit(f'{module}: its tests fail without any mutant '
                         f'(log: {osp.join(root, "pytest.log")})')
    base = time.monotonic() - t0
    unparsed = ast.unparse(ast.parse(original))
    if verbose:
        print(f'{module}: {len(mutants)} mutants, running {len(chosen)} '
              f'(tests: {" ".join(tests)}; unmutated run {base:.1f} s)',
              flush=True)
    survivors, killed = [], 0
    try:
        for k, m in enumerate(chosen):
            with open(path, 'w') as f:
                f.write(m['source'])
            result = run_tests(root, tests, timeout=3 * base + 20)
            if result == 'passed':
                survivors.append(dict(line=m['line'], what=m['what'],
                                      diff=_diff(unparsed, m['source'])))
            else:
                killed += 1
            if verbose:
                shown = 'SURVIVED' if result == 'passed' else result
                print(f'  [{k + 1}/{len(chosen)}] line {m["line"]}: '
                      f'{m["what"]}: {shown}', flush=True)
    finally:
        with open(path, 'w') as f:
            f.write(original)
    return dict(module=module, mutants=len(mutants), run=len(chosen),
                killed=killed, survived=len(survivors),
                score=killed / max(len(chosen), 1), survivors=survivors,
                seconds=round(time.monotonic() - t0, 1))


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('modules', nargs='*',
                        help='module paths (keys of the table)')
    parser.add_argument('--all', action='store_true',
                        help='every module of the table')
    parser.add_argument('--table', default=TABLE,
                        help='the module -> tests table (JSON)')
    parser.add_argument('--tree', default=REPO,
                        help='the repository tree to copy and mutate '
                        '(e.g. an exported older commit)')
    parser.add_argument('--max-mutants', type=int, default=30,
                        help='a seeded sample of at most this many mutants '
                        'per module (0: all)')
    parser.add_argument('--seed', type=int, default=0,
                        help='seed of the sample of mutants')
    parser.add_argument('--json', help='write the summaries here')
    parser.add_argument('--keep', action='store_true',
                        help='keep the private copy (for debugging)')
    return parser.parse_args(argv)


def main(argv=None):
    args = parse_args(argv)
    table = load_table(args.table)
    modules = list(table) if args.all else args.modules
    unknown = [m for m in modules if m not in table]
    if not modules or unknown:
        missing = unknown or 'none given'
        raise SystemExit(f'modules not in {args.table}: {missing}; known: '
                         f'{", ".join(table)}')
    _preload()
    root = make_copy(args.tree)
    results = []
    try:
        for module in modules:
            results.append(mutate_module(module, table[module], root,
                                         args.max_mutants or None,
                                         args.seed))
            r = results[-1]
            print(f'{module}: killed {r["killed"]}/{r["run"]} '
                  f'({100 * r["score"]:.0f}%), {r["seconds"]} s', flush=True)
            for s in r['survivors']:
                print(f'  survived, line {s["line"]} ({s["what"]}):\n'
                      + '\n'.join('    ' + x for x in s['diff'].splitlines()))
    finally:
        if not args.keep:
            shutil.rmtree(root, ignore_errors=True)
    print('\nmodule | mutants | run | killed | score')
    for r in results:
        print(f'{r["module"]} | {r["mutants"]} | {r["run"]} | {r["killed"]} '
              f'| {100 * r["score"]:.0f}%')
    if args.json:
        with open(args.json, 'w') as f:
            json.dump(results, f, indent=1)
    return results


if __name__ == '__main__':
    main()
