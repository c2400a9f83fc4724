// Package pull reads artifacts from OCI registries: it parses references,
// builds authenticated registry clients, picks a tag by semver range
// (ResolveSemver), resolves a tag or digest to a manifest descriptor, copies
// exactly that digest's graph into a local target (the cache, or memory),
// optionally from the first of several mirrors that serves it (ResolveFrom,
// FetchFrom), and reads an artifact's manifest and blobs checked
// (ReadArtifact, OpenBlob) for the render package, which extracts them. A Reference
// can say "no tag" (a bare repository); commands that read that as latest
// apply it with WithDefaultTag.
//
// Pull owns references, auth (docker config, credential helpers, static
// credentials), TLS (system roots plus a CA bundle, client certificates;
// verification is never skipped), plain-HTTP opt-in, retries, mirrors, hard
// limits on untrusted input. It does not decide trust:
// signatures are the verify package's job, and the caller must verify the
// digest Resolve returns before using what Fetch produces. It does
// not store anything beyond the target it is handed.
//
// # Limits and caveats
//
// Requests are retried on connection resets, 408, 429, 500, 502, 503 and 504,
// at most five times, with exponential backoff and jitter or the wait
// Retry-After asks for (capped at 30 s); 401, 403, 404 and other client errors
// fail at once, 401 and 403 as errdef.ErrUnauthorized. A tag list is read up
// to MaxTags tags. A mirror that lacks a digest or cannot be reached is
// skipped; one that serves different bytes for it stops the pull.
//
// Mirrors are trusted for content by digest only. Tags and semver ranges are
// resolved at the canonical repository while it answers, because a mirror
// could otherwise map them to an older signed release (a rollback) or never
// advance them (a freeze); when only mirrors answer, ResolveFrom says so
// (Resolved.AtMirror), and a semver range is refused with errdef.ErrRollback
// below the floor the caller gives (the version it last applied). A plain
// tag cannot be ordered, so refusing a mirror that moves it is the caller's
// job. Reaching an air-gapped cluster's mirrors therefore waits for the
// canonical registry to fail first (refused at once, or after the dial
// timeout). Static credentials go to the one registry they were given for
// (NewReplicas binds them to the canonical one); every other registry gets
// its docker-config entry. Plain HTTP is chosen per endpoint, never for a
// whole replica list. TLS material (CA, client certificate) is shared by every
// HTTPS endpoint.
//
// Every blob is read through a reader that checks its descriptor's size and
// digest as it streams and rejects trailing data. Manifests and indexes are
// capped at limits.MaxManifestBytes, layers at limits.MaxLayerBytes, the
// layers or children of one manifest at limits.MaxLayers, and an index may not
// hold another index. One fetch copies at most limits.MaxFetchBytes in all
// (FetchOptions.MaxBytes overrides it): the sum is checked from the
// descriptors as each manifest is read, before its blobs are requested, and
// again on the bytes as they stream, so an index of many large manifests
// cannot fill the cache disk before extraction's caps apply.
package pull
