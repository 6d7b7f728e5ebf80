"""tools/misc/mutation_test.py: the mutants it makes and its repeatable
sample (the runs themselves take minutes and are not part of the suite)."""
import ast

from tests.helpers import load_tool

SOURCE = '''def f(a, b=0):
    """A docstring: 1 < 2 is not mutated."""
    if a <= b and not a:
        g(a, b, key=1)
    return a + 2
'''


def test_mutants_of_each_operator_outside_docstrings():
    """One mutant per operator site, none inside the docstring; each is
    valid Python that differs from the original in one place."""
    tool = load_tool('tools/misc/mutation_test.py')
    mutants = tool.enumerate_mutants(SOURCE)
    assert sorted(m['what'] for m in mutants) == sorted([
        '0 -> 1', 'And -> Or', 'LtE -> Lt', 'drop Not', '1 -> 2',
        'drop keyword key=', 'swap arguments 1 and 2',
        'drop call statement', 'Add -> Sub', '2 -> 3'])
    original = ast.unparse(ast.parse(SOURCE))
    for m in mutants:
        ast.parse(m['source'])
        assert m['source'] != original
        assert '1 < 2 is not mutated' in m['source']
    swapped = next(m for m in mutants if m['what'].startswith('swap'))
    assert 'g(b, a, key=1)' in swapped['source']


def test_sample_is_seeded_and_in_source_order():
    tool = load_tool('tools/misc/mutation_test.py')
    items = list(range(50))
    a, b = (tool.select(items, 10, seed=0) for _ in range(2))
    assert a == b == sorted(a) and len(a) == 10
    assert tool.select(items, 10, seed=1) != a
    assert tool.select(items[:5], 10, seed=0) == items[:5]
