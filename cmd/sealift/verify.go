package main

import (
	"context"
	"crypto"
	"errors"
	"fmt"
	"slices"
	"strings"
	"text/tabwriter"

	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
	"github.com/spf13/cobra"
	"oras.land/oras-go/v2"

	"github.com/sealift-dev/sealift/errdef"
	"github.com/sealift-dev/sealift/internal/cosignfmt"
	"github.com/sealift-dev/sealift/mirror"
	"github.com/sealift-dev/sealift/pull"
	"github.com/sealift-dev/sealift/verify"
)

type verifyOptions struct {
	keys        []string
	pins        []string
	withImages  bool
	identity    verify.Identity
	trustedRoot string
	threshold   int
	sigs        signatureRepoOptions
	remote      remoteOptions
	output      outputOptions
}

func newVerifyCmd() *cobra.Command {
	var o verifyOptions
	cmd := &cobra.Command{
		Use:   "verify oci://REPO[:TAG|@DIGEST] | oci-layout:DIR[:TAG|@DIGEST] | tar:FILE[:TAG|@DIGEST] --key cosign.pub [--key ...]",
		Short: "Check that an artifact's digest is signed by enough trusted keys",
		Long: `Resolve the reference to a digest and check the signatures stored for that digest
against the given public keys. Both of cosign's formats count: legacy signatures under the
sha256-<hex>.sig tag and sigstore bundles listed as referrers of the digest (the referrers
API, or the sha256-<hex> referrers tag on registries without it). Exit 0 only when at least
--threshold distinct keys signed exactly this digest.

An OCI layout directory or tar file (what 'sealift mirror' writes) is verified in place, with
no network: check an artifact on the air-gapped side before importing it. There, every blob the
signed manifest reaches (config, layers, an index's manifests) is also read and checked against
its digest: "Verified" means the whole artifact in the file is the one that was signed.

A layout or tar holding a release ('sealift mirror -f LIST tar:FILE') is checked whole: every
artifact must verify and hold exactly the signed bytes, and, with --with-images, every image that
carries signatures must verify too (unsigned images are listed as such); a table says which.
So is a tar of one artifact mirrored with its images ('sealift mirror SRC tar:FILE --with-images')
when --with-images is given.
Keys and a trusted_root.json the file carries are used only when --trust-fingerprint pins their
fingerprint (sha256:..., as verify prints signers, or the sha256 of trusted_root.json); anything
else the file carries is ignored with a warning.`,
		Example: `  sealift verify oci://registry.example/team/app:1.4.2 --key cosign.pub
  sealift verify oci://registry.example/team/app@sha256:... --key a.pub --key b.pub --threshold 2 -o json
  sealift verify tar:app.tar --key cosign.pub
  sealift verify tar:release.tar --trust-fingerprint sha256:4c1f... --with-images`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := o.validate(); err != nil {
				return err
			}
			return o.run(cmd, args[0])
		},
	}
	fs := cmd.Flags()
	fs.StringArrayVar(&o.keys, "key", nil, "trusted public key file (PEM); repeat for several keys")
	fs.StringVar(&o.identity.Subject, "certificate-identity", "", "keyless: the signer's identity (certificate subject: e-mail or workflow URI), exactly")
	fs.StringVar(&o.identity.SubjectRegexp, "certificate-identity-regexp", "", "keyless: a regular expression the whole signer identity must match")
	fs.StringVar(&o.identity.Issuer, "certificate-oidc-issuer", "", "keyless: the OIDC issuer of the signer's identity, exactly")
	fs.StringVar(&o.identity.IssuerRegexp, "certificate-oidc-issuer-regexp", "", "keyless: a regular expression the whole OIDC issuer must match")
	fs.StringVar(&o.identity.SourceRepository, "certificate-source-repository", "", "keyless: the source repository URI claim, exactly (optional)")
	fs.StringVar(&o.identity.WorkflowRef, "certificate-workflow-ref", "", "keyless: the CI workflow ref claim, exactly (optional)")
	fs.StringVar(&o.trustedRoot, "trusted-root", "", "keyless: pinned trusted_root.json the certificates and log entries are checked against (no network)")
	fs.IntVar(&o.threshold, "threshold", 1, "number of distinct keys (and the identity, if given) that must have signed")
	fs.StringArrayVar(&o.pins, "trust-fingerprint", nil, "use a key or trusted_root.json a layout or tar carries only when its fingerprint is this one (repeatable)")
	fs.BoolVar(&o.withImages, "with-images", false, "for a layout or tar holding images, also verify every image that carries signatures")
	o.sigs.addFlags(fs)
	o.remote.addFlags(fs)
	o.output.addFlags(fs)
	return cmd
}

// keyless reports whether any keyless flag is set.
func (o *verifyOptions) keyless() bool {
	return o.identity != (verify.Identity{}) || o.trustedRoot != ""
}

func (o *verifyOptions) validate() error {
	signers := len(o.keys)
	if o.keyless() {
		signers++
		if o.trustedRoot == "" && len(o.pins) == 0 {
			return withHint(errors.New("keyless verification needs --trusted-root"),
				"pass the trusted_root.json of the signing authority, e.g. from 'cosign trusted-root create'")
		}
		if (o.identity.Subject == "") == (o.identity.SubjectRegexp == "") || (o.identity.Issuer == "") == (o.identity.IssuerRegexp == "") {
			return withHint(errors.New("keyless verification needs one of --certificate-identity(-regexp) and one of --certificate-oidc-issuer(-regexp)"),
				"name who must have signed, e.g. --certificate-identity https://ci.example/org/repo/.ci/release.yml@refs/heads/main --certificate-oidc-issuer https://token.ci.example")
		}
	}
	if o.keyless() && o.trustedRoot == "" && len(o.pins) > 0 {
		signers++ // the trusted root may come pinned from the file
	}
	signers += len(o.pins)
	if signers == 0 {
		return withHint(errors.New("--key is required"), "pass the public key that signed the artifact: --key cosign.pub (or, keyless, --certificate-identity, --certificate-oidc-issuer and --trusted-root)")
	}
	if o.threshold < 1 || o.threshold > signers {
		return withHint(fmt.Errorf("--threshold %d with %d keys", o.threshold, signers),
			"use a threshold between 1 and the number of --key flags (plus one for a keyless identity)")
	}
	if err := o.sigs.validate(); err != nil {
		return err
	}
	if err := o.remote.validate(); err != nil {
		return err
	}
	return o.output.validate()
}

// verifyResult is what verify prints with -o json.
type verifyResult struct {
	Reference string `json:"reference"`
	verify.Verdict
}

func (o *verifyOptions) run(cmd *cobra.Command, arg string) error {
	ctx := cmd.Context()
	// The reference is checked before keys are read or anything is opened.
	if _, _, err := parseVerifyTarget(arg); err != nil {
		return err
	}
	policy, names, err := loadKeys(o.keys, o.threshold)
	if err != nil {
		return err
	}
	var carriedRoot []byte
	if len(o.pins) > 0 {
		_, loc, _ := parseVerifyTarget(arg)
		if loc == nil {
			return withHint(errors.New("--trust-fingerprint pins what a layout or tar carries"), "pass the keys with --key")
		}
		keys, root, err := pinnedTrust(cmd, *loc, o.remote.pullOptions(), o.pins)
		if err != nil {
			return err
		}
		for _, k := range keys {
			policy.Keys = append(policy.Keys, k)
			names[cosignfmt.Fingerprint(k)] = "carried, pinned"
		}
		carriedRoot = root
	}
	if o.keyless() {
		root := carriedRoot
		if o.trustedRoot != "" {
			if root, err = readTrustedRoot(o.trustedRoot); err != nil {
				return err
			}
		}
		if root == nil {
			return withHint(errors.New("keyless verification needs a trusted root: none given, and none carried and pinned"), "pass --trusted-root, or pin the carried one with --trust-fingerprint")
		}
		policy.Identities = []verify.Identity{o.identity}
		policy.TrustedRoot = root
	}
	if len(policy.Keys) == 0 && len(policy.Identities) == 0 {
		return withHint(errors.New("no key to verify with: the pinned fingerprints match nothing the file carries"), "check --trust-fingerprint, or pass --key")
	}
	if _, loc, _ := parseVerifyTarget(arg); loc != nil {
		target, entries, release, err := mirror.OpenRelease(ctx, *loc, o.remote.pullOptions())
		if err != nil {
			return err
		}
		isRelease := slices.ContainsFunc(entries, func(e mirror.ReleaseEntry) bool { return e.Kind == mirror.EntryArtifact })
		if isRelease {
			defer release()
			return o.verifyRelease(cmd, *loc, target, entries, policy)
		}
		if o.withImages && slices.ContainsFunc(entries, func(e mirror.ReleaseEntry) bool { return e.Kind == mirror.EntryImage }) {
			// One artifact mirrored with its images (mirror SRC tar:FILE
			// --with-images): checked as a release of that artifact, so
			// the images are not left unchecked.
			defer release()
			_, name, desc, _, releaseOne, err := o.open(ctx, arg)
			if err != nil {
				return err
			}
			releaseOne()
			artifact := mirror.ReleaseEntry{Kind: mirror.EntryArtifact, Name: name, Descriptor: desc}
			return o.verifyRelease(cmd, *loc, target, append([]mirror.ReleaseEntry{artifact}, entries...), policy)
		}
		release()
	}
	src, name, desc, check, release, err := o.open(ctx, arg)
	if err != nil {
		return err
	}
	defer release()
	verdict, verr := verify.Verify(ctx, src, desc, policy)
	if verr == nil && verdict.Verified && check != nil {
		// A layout or tar is about to be imported whole: the signed
		// manifest proves nothing about blobs that no longer match it.
		if err := check(ctx); err != nil {
			verr = err
			verdict.Verified = false
			verdict.Reason = err.Error()
		}
	}
	res := verifyResult{Reference: name + "@" + desc.Digest.String(), Verdict: verdict}
	out := cmd.OutOrStdout()
	if o.output.json() {
		if err := writeJSON(out, res); err != nil {
			return err
		}
	} else if verr == nil {
		fmt.Fprintf(out, "Verified %s\n", res.Reference)
		for _, fp := range verdict.Signers {
			if path, ok := names[fp]; ok {
				fmt.Fprintf(out, "  signed by %s (%s)\n", fp, path)
			} else {
				fmt.Fprintf(out, "  signed by %s\n", fp)
			}
		}
	}
	if verr != nil {
		switch {
		case errors.Is(verr, errdef.ErrNoSignature):
			return withHint(verr, "sign it: sealift sign oci://%s --key cosign.key", res.Reference)
		case errors.Is(verr, errdef.ErrSignatureInvalid):
			return withHint(verr, "check that each --key is the public half of a key that signed this digest")
		case errors.Is(verr, errdef.ErrDigestMismatch), errors.Is(verr, errdef.ErrSizeMismatch), errors.Is(verr, errdef.ErrNotFound):
			return withHint(verr, "the signatures hold but the content does not match them: the file was altered or damaged after it was written; do not import it, mirror the artifact again from its origin")
		}
		return verr
	}
	return nil
}

// open resolves arg, a registry reference or an OCI layout directory or tar
// file (what sealift mirror writes, checked before an air-gapped import),
// and returns where its signatures are read from, its name for messages,
// its manifest, the check of every blob the manifest reaches against its
// digest (layouts and tars only: a registry checks digests as content is
// pushed, and pull checks them again), and what to release when done.
func (o *verifyOptions) open(ctx context.Context, arg string) (oras.ReadOnlyTarget, string, ocispec.Descriptor, func(context.Context) error, func(), error) {
	none := func() {}
	ref, loc, err := parseVerifyTarget(arg)
	if err != nil {
		return nil, "", ocispec.Descriptor{}, nil, none, err
	}
	if loc != nil {
		if o.sigs.repo != "" {
			return nil, "", ocispec.Descriptor{}, nil, none, withHint(errors.New("--signature-repository applies to registries only"),
				"a layout or tar holds its signatures beside the artifact; drop --signature-repository")
		}
		target, release, err := mirror.Open(ctx, *loc, o.remote.pullOptions())
		if err != nil {
			return nil, "", ocispec.Descriptor{}, nil, none, err
		}
		desc, err := mirror.Resolve(ctx, target, *loc)
		if err != nil {
			release()
			return nil, "", ocispec.Descriptor{}, nil, none, withHint(err, "name the tag or digest the layout holds: %s:TAG or %s@sha256:...", arg, arg)
		}
		where := *loc
		where.Tag, where.Digest = "", ""
		check := func(ctx context.Context) error { return mirror.CheckContent(ctx, target, *loc, desc) }
		return target, where.String(), desc, check, release, nil
	}
	repo, err := o.remote.repository(ref)
	if err != nil {
		return nil, "", ocispec.Descriptor{}, nil, none, err
	}
	desc, err := pull.Resolve(ctx, repo, ref)
	if err != nil {
		return nil, "", ocispec.Descriptor{}, nil, none, err
	}
	sigRepo, err := o.sigs.repository(&o.remote, repo)
	if err != nil {
		return nil, "", ocispec.Descriptor{}, nil, none, err
	}
	return sigRepo, ref.Repo(), desc, nil, none, nil
}

// parseVerifyTarget parses what verify checks: a registry reference, or
// (loc set) an OCI layout directory or tar file.
func parseVerifyTarget(arg string) (pull.Reference, *mirror.Location, error) {
	if strings.HasPrefix(arg, mirror.SchemeLayout) || strings.HasPrefix(arg, mirror.SchemeTar) {
		loc, err := mirror.ParseLocation(arg)
		if err != nil {
			return pull.Reference{}, nil, withHint(err, "use oci-layout:DIR[:TAG|@DIGEST] or tar:FILE[:TAG|@DIGEST]")
		}
		return pull.Reference{}, &loc, nil
	}
	ref, err := pull.ParseReference(arg)
	if err != nil {
		return pull.Reference{}, nil, withHint(err, "use oci://host/repository:tag, oci://host/repository@sha256:<digest>, oci-layout:DIR or tar:FILE")
	}
	return ref.WithDefaultTag(), nil, nil
}

func readTrustedRoot(path string) ([]byte, error) {
	b, err := cosignfmt.LoadTrustedRootFile(path)
	if err != nil && !errors.Is(err, errdef.ErrSizeExceedsLimit) {
		return nil, withHint(err, "pass --trusted-root trusted_root.json")
	}
	if err != nil {
		return nil, err
	}
	return b, nil
}

// pinnedTrust reads the trust material the layout or tar at loc carries and
// keeps what pins name; everything else it carries is ignored, with a
// warning on stderr, as is a pin that matches nothing carried.
func pinnedTrust(cmd *cobra.Command, loc mirror.Location, remote pull.RemoteOptions, pins []string) ([]crypto.PublicKey, []byte, error) {
	ctx := cmd.Context()
	target, entries, release, err := mirror.OpenRelease(ctx, loc, remote)
	if err != nil {
		return nil, nil, err
	}
	defer release()
	keys, root, ignored, err := mirror.PinnedTrust(ctx, target, entries, pins)
	if err != nil {
		return nil, nil, withHint(err, "the trust material %s carries is damaged; verify with --key and --trusted-root from a source you trust", loc)
	}
	w := cmd.ErrOrStderr()
	for _, ig := range ignored {
		fmt.Fprintf(w, "Warning: %s carries %s, which no --trust-fingerprint pins: ignored\n", loc, ig)
	}
	matched := map[string]bool{}
	for _, k := range keys {
		matched[cosignfmt.Fingerprint(k)] = true
	}
	if root != nil {
		matched[mirror.TrustFingerprint(root)] = true
	}
	for _, p := range pins {
		if !matched[p] {
			fmt.Fprintf(w, "Warning: --trust-fingerprint %s matches nothing %s carries\n", p, loc)
		}
	}
	return keys, root, nil
}

// releaseRow is one line of the table verify prints for a release.
type releaseRow struct {
	Kind    string   `json:"kind"`
	Name    string   `json:"name"`
	Digest  string   `json:"digest"`
	Result  string   `json:"result"`
	Signers []string `json:"signers,omitempty"`
	Reason  string   `json:"reason,omitempty"`
	ok      bool
}

// verifyRelease checks every artifact a release layout or tar holds (its
// signatures against policy, then every blob against its digest) and,
// with --with-images, every image that carries signatures, and prints a
// table (-o json: the rows). It fails when any check fails.
func (o *verifyOptions) verifyRelease(cmd *cobra.Command, loc mirror.Location, target oras.ReadOnlyTarget, entries []mirror.ReleaseEntry, policy verify.Policy) error {
	ctx := cmd.Context()
	var rows []releaseRow
	failed := 0
	for _, e := range entries {
		if e.Kind == mirror.EntryTrust || (e.Kind == mirror.EntryImage && !o.withImages) {
			continue
		}
		row := releaseRow{Kind: e.Kind, Name: e.Name, Digest: e.Descriptor.Digest.String()}
		desc := e.Descriptor
		desc.Annotations = nil
		check := true
		if e.Kind == mirror.EntryImage {
			sigs, err := verify.Discover(ctx, target, desc)
			if err == nil && len(sigs.Legacy) == 0 && !slices.ContainsFunc(sigs.Referrers, verify.Referrer.Valid) {
				row.Result, row.ok, check = "unsigned", true, false
			}
		}
		if check {
			v, err := verify.Verify(ctx, target, desc, policy)
			if err == nil && v.Verified {
				err = mirror.CheckContent(ctx, target, loc, desc)
			}
			switch {
			case err != nil:
				row.Result, row.Reason = "FAILED", err.Error()
			case !v.Verified:
				row.Result, row.Reason = "FAILED", v.Reason
			default:
				row.Result, row.Signers, row.ok = "verified", v.Signers, true
			}
		}
		if !row.ok {
			failed++
		}
		rows = append(rows, row)
	}
	out := cmd.OutOrStdout()
	if o.output.json() {
		if err := writeJSON(out, rows); err != nil {
			return err
		}
	} else {
		tw := tabwriter.NewWriter(out, 0, 4, 2, ' ', 0)
		fmt.Fprintln(tw, "KIND\tNAME\tDIGEST\tRESULT")
		for _, r := range rows {
			res := r.Result
			if len(r.Signers) > 0 {
				res += " (" + strings.Join(r.Signers, ", ") + ")"
			}
			if r.Reason != "" {
				res += ": " + r.Reason
			}
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\n", r.Kind, r.Name, r.Digest, res)
		}
		_ = tw.Flush()
	}
	if failed > 0 {
		return withHint(fmt.Errorf("%s: %d of %d entries failed verification: %w", loc, failed, len(rows), errdef.ErrPolicyViolation),
			"do not import this file: mirror the release again from its origin, and check --key / --trust-fingerprint")
	}
	return nil
}
