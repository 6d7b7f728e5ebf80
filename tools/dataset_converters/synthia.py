"""Convert SYNTHIA RAND-CITYSCAPES labels to Cityscapes trainIds and write
the rare class sampling statistics.

RGB/NNNNNNN.png + GT/LABELS/NNNNNNN.png (16 bit, id in R)
-> GT/LABELS/NNNNNNN_labelTrainIds.png

Also writes the rare class statistics and the bad-sample report (see
below).
"""
import sys

from converter_utils import convert_synthia, converter_main

if __name__ == '__main__':
    sys.exit(
        converter_main(__doc__, 'SYNTHIA RAND-CITYSCAPES', convert_synthia,
                       root_help='SYNTHIA RAND-CITYSCAPES dataset root'))
