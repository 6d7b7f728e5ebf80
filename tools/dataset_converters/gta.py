"""Convert GTA5 labels to Cityscapes trainIds and write the rare class
sampling statistics.

images/NNNNN.png + labels/NNNNN.png (Cityscapes label ids)
-> labels/NNNNN_labelTrainIds.png

Also writes sample_class_stats.json and samples_with_class.json (RCS) and
bad_samples.json (samples excluded: unreadable/blank image, image/label size
mismatch, unknown label values) into the dataset root. Idempotent (up-to-date
outputs are not rewritten) and atomic (temporary file + rename).
See docs/dataset_prepare.md.
"""
import argparse
import sys

from converter_utils import convert_gta, print_summary


def parse_args():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('root', help='GTA5 dataset root')
    parser.add_argument(
        '--nproc', type=int, default=1, help='number of processes')
    return parser.parse_args()


def main():
    args = parse_args()
    summary = convert_gta(args.root, nproc=args.nproc)
    print_summary('GTA5', summary, args.root)
    return 0


if __name__ == '__main__':
    sys.exit(main())
