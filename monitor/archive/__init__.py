"""The archive: everything that must outlive the service.

- ``warc``: writes and reads the WARC files (where a record is written, where a torn
  one is cut); ``policy``: which checks keep the full response; ``storage``: where the
  files live (the local spool, and object storage through fsspec once closed);
- ``reader``: any WARC/ARC file, record by record, broken ones included; ``fixity``:
  ``monitor verify``; ``gc``: retention;
- ``restore``, ``restore_set``, ``readable``: copies back, one or all, exact or clean;
- ``wacz``: export for ReplayWeb.page; ``memento`` and ``linkformat``: TimeMaps;
  ``annotate``: Robust Links in the citing document;
- ``public``, ``submissions``, ``cited``: public archives (Save Page Now, Memento
  aggregator) and the copy nearest the time a source was cited.
"""
