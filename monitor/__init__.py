"""source-monitor: watch cited articles, archive every capture as WARC, flag edits and dead links."""

__version__ = "0.1.0"
