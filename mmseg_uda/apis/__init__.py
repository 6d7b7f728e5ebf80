"""High-level helpers on top of the plugin (quick-start demo, rendering of
predictions). Not imported by ``import mmseg_uda``: they pull in matplotlib
and are only needed by the tools."""
