/*
Package blobs stores evidence files (PDFs, images, office documents) beside
the ledger, addressed by the SHA-256 of their content.

Files never travel inside events. An event that cites evidence records the
file's hash, size and media type; the bytes live here, and anyone holding the
event can fetch them and check that they are the bytes that were cited.

# Layout

A Store owns one directory:

	dir/sha256/ab/abcdef...   one file per blob; the name is the full
	                          64-hex-digit SHA-256 of the content, the
	                          fan-out directory its first two hex digits
	dir/tmp/                  uploads in progress

Only the content decides where a blob lives. A name supplied by a client (the
uploaded file's name, say) is never used on disk; keep it in the event if it
matters. Temporary files get random names from os.CreateTemp. Stored blobs
are made read-only (mode 0440) because they never change.

# Writing

Put streams the content into a new file in tmp/ while hashing it, so a file
is read once and never held in memory. When the content is complete and
within the limits, Put

 1. fsyncs the temporary file;
 2. creates the fan-out directory if needed and fsyncs sha256/ so that the
    directory's own entry is durable (done once per fan-out directory per
    Store);
 3. if a file already sits at the final path and hashes to the right value,
    drops the temporary file (identical uploads are stored once); otherwise
    renames the temporary file over the final path, which is atomic and also
    repairs a damaged copy;
 4. fsyncs the fan-out directory, so the new name survives a power cut.
    This happens on the deduplicating path too, because the existing file
    may come from a concurrent Put that has renamed but not yet synced.

A blob is therefore either absent from sha256/ or complete: a failure at any
step (a read error, a cancelled context, an oversize or empty upload, a full
disk) leaves at most a temporary file behind, which Put removes on the way
out and Open sweeps if the process died first. When Put returns nil the blob
is durable and an event may cite it.

# Reading

Store.Open and Store.Verify hash the whole file before answering. Open
returns the content only if it still hashes to the requested value, and
returns it as a Reader positioned at offset 0, ready for http.ServeContent.
A file whose content no longer matches its name is reported with an error in
the ErrBlobCorrupt family (which matches eventstore.ErrCorrupt) naming both
the requested hash and the hash of what is on disk now: the store never hands
out damaged evidence as if it were good. Stat answers from file metadata
alone, without reading or checking the content.

The check covers the content as it is when Open reads it; a process that
rewrites the file in place after that point (outside the store) is not
detected until the next Open or Verify.

# Limits

Options.MaxSize caps a blob's size, DefaultMaxSize (32 MiB) when zero. Put
reads at most MaxSize+1 bytes from its reader, so an endless or oversize
upload costs at most that much disk and time before it fails with an
ErrTooLarge error. Empty content fails with ErrEmpty. Both match
eventstore.ErrInvalid.

# Errors

Errors fall into the eventstore families and match them with errors.Is:
eventstore.ErrInvalid for a request that is wrong (ErrTooLarge, ErrEmpty, a
zero hash), eventstore.ErrCorrupt for damaged data (ErrBlobCorrupt), and
eventstore.ErrUnavailable for file-system failures (disk full, permissions);
the underlying *fs.PathError is wrapped too. A missing blob is ErrNotFound. An
error from the caller's reader or context is wrapped as it is, so
errors.Is(err, context.Canceled) works.

# Concurrency

A Store is safe for use by many goroutines: any number of Puts of the same or
different content may run at once, alongside Opens and Verifies. Only one
Store should be open on a directory at a time, because Open empties tmp/ and
would delete another Store's uploads in progress; keeping the blob directory
inside the ledger's locked data directory ensures it.
*/
package blobs
