/** Typed failures of dataset loading. Each carries a `message` that says what went wrong and where. */
import { Data } from "effect"

/** A local archive could not be read (missing file, no permission); retrying will not help. */
export class SourceUnavailable extends Data.TaggedError("SourceUnavailable")<{
  readonly message: string
  readonly path: string
}> {}

/** Fetching an archive failed (network, registry, `npm pack` exit status); transient, so it is retried. */
export class DownloadFailed extends Data.TaggedError("DownloadFailed")<{
  readonly message: string
  readonly source: string
}> {}

/** An archive's digest differs from the expected one; the file has been deleted, never used. */
export class ChecksumMismatch extends Data.TaggedError("ChecksumMismatch")<{
  readonly message: string
  readonly source: string
  readonly expected: string
  readonly actual: string
}> {}

/** An archive is unreadable or a member is missing or malformed; `member` names it. */
export class CorruptArchive extends Data.TaggedError("CorruptArchive")<{
  readonly message: string
  readonly member: string
}> {}

/** A decoded-dataset cache file failed its header or digest check. */
export class CacheCorrupt extends Data.TaggedError("CacheCorrupt")<{
  readonly message: string
  readonly path: string
}> {}

/** Every way loading a dataset can fail. */
export type DataError = SourceUnavailable | DownloadFailed | ChecksumMismatch | CorruptArchive | CacheCorrupt
