"""The archive: everything that must outlive the service.

``warc`` writes and reads the WARC files (where a record is written, where a torn
one is cut); ``restore`` hands back a stored copy as of a time.
"""
