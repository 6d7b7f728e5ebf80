"""Visualisation helpers on top of the plugin (rendering of predictions,
pseudo-labels and HRDA scale attention). Not imported by
``import mmseg_uda``: only the tools and user scripts need them."""
