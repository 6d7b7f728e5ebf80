"""Two gloo processes, every UDA method (DACS, HRDA, MIC(HRDA),
AdaptSegNet, PFR), without and with gradient accumulation: after training,
every parameter *and buffer* (BN running statistics of student and teacher)
is identical on both ranks, and each DDP-wrapped trainable child
all-reduces its gradients exactly once per optimizer step (counted by a DDP
communication hook; "identical ranks" alone cannot see a double
all-reduce, which only scales the gradients).

One launch of tests/test_engine/dist_worker.py runs all the cases."""
import collections

import pytest
import torch

from tests.test_engine.dist_launch import launch


@pytest.fixture(scope='module')
def consistency(small_roots, tmp_path_factory):
    out = tmp_path_factory.mktemp('dist_consistency')
    proc = launch('consistency', small_roots, out)
    assert proc.returncode == 0, proc.stdout[-6000:]
    return [torch.load(out / f'consistency_rank{r}.pth', weights_only=False)
            for r in range(2)]


CASES = [f'{m}_acc{a}' for m in ('dacs', 'hrda', 'mic_hrda', 'advseg', 'pfr')
         for a in (1, 2)]


@pytest.mark.parametrize('case', CASES)
def test_parameters_and_buffers_identical_on_every_rank(consistency, case):
    """Rules out: BN running statistics kept per rank (each rank normalises
    its own images; the checkpoint then holds rank 0's and validation mixes
    models), for the student and for the EMA teacher."""
    r0, r1 = consistency[0][case], consistency[1][case]
    assert r0['state'].keys() == r1['state'].keys()
    for key in r0['state']:
        assert torch.equal(r0['state'][key], r1['state'][key]), key
    stats = [k for k in r0['buffers']
             if k.endswith(('running_mean', 'running_var'))]
    assert any(k.startswith('student.') for k in stats), case
    if not case.startswith(('advseg', 'pfr')):
        assert any(k.startswith('teacher.') for k in stats), case


def test_buffers_differ_without_sync(consistency):
    """Control: each rank's BN statistics differ when they are not
    averaged (the equality above is not vacuous)."""
    r0, r1 = (c['dacs_acc1_nosync'] for c in consistency)
    differ = [k for k in r0['buffers'] if k.endswith('running_mean')
              and not torch.equal(r0['state'][k], r1['state'][k])]
    assert any(k.startswith('student.') for k in differ)
    assert any(k.startswith('teacher.') for k in differ)


@pytest.mark.parametrize('case', CASES)
def test_one_gradient_all_reduce_per_module_and_step(consistency, case):
    """Rules out: a second synchronised backward in a step (double
    all-reduce), a step that synchronises while accumulating, and
    gradient accumulation that steps the optimizer every iteration (the
    UDA steps run several backward passes, which mmengine would count as
    several accumulation steps)."""
    for rank in range(2):
        result = consistency[rank][case]
        acc = result['acc']
        step_iters = [i for i in range(result['max_iters'])
                      if (i + 1) % acc == 0]
        wrapped = result['wrapped']
        assert 'student' in wrapped and 'teacher' not in wrapped
        if case.startswith(('advseg', 'pfr')):
            assert 'discriminator' in wrapped
        per_step = collections.Counter(
            (it, name) for it, name, _ in result['calls'])
        buckets = collections.Counter(result['calls'])
        # every bucket of every wrapped child exactly once per step, and
        # (tiny models) one bucket per child: one all-reduce per child
        assert set(buckets.values()) == {1}, buckets
        assert per_step == {(it, name): 1 for it in step_iters
                            for name in wrapped}, per_step
        optimizers = {n for _, n in result['steps']}
        assert sorted(result['steps']) == sorted(
            (it, n) for it in step_iters for n in optimizers)
