"""Generate the small synthetic domain-shift dataset (GTA5-style source,
Cityscapes-style target; deterministic by seed) and convert the source.

    python tools/misc/generate_synthetic_uda.py data/synthetic_uda --seed 0
"""
import argparse
import sys

from mmseg_uda.datasets.synthetic import generate_synthetic_uda


def parse_args():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument('out_dir', nargs='?', default='data/synthetic_uda')
    p.add_argument('--num-source', type=int, default=24)
    p.add_argument('--num-target-train', type=int, default=16)
    p.add_argument('--num-target-val', type=int, default=8)
    p.add_argument('--source-size', type=int, nargs=2, default=(320, 180),
                   metavar=('W', 'H'))
    p.add_argument('--target-size', type=int, nargs=2, default=(256, 128),
                   metavar=('W', 'H'))
    p.add_argument('--seed', type=int, default=0)
    p.add_argument('--no-convert', action='store_true',
                   help='do not write the converted source labels, statistics')
    return p.parse_args()


def main():
    a = parse_args()
    roots = generate_synthetic_uda(
        a.out_dir, a.num_source, a.num_target_train, a.num_target_val,
        tuple(a.source_size), tuple(a.target_size), a.seed,
        convert=not a.no_convert)
    for name, root in roots.items():
        print(f'{name}: {root}')
    return 0


if __name__ == '__main__':
    sys.exit(main())
