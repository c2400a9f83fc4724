// Command image builds sealift's container images (make image): the sealift
// image (sealift, sealift-controller and sealift-registry) and the
// sealift-registry image, for linux/amd64 and linux/arm64, reproducibly,
// with go-containerregistry and no Docker engine. It writes an OCI layout
// per image under -out, or pushes to -image; with -key it signs each index
// digest with sealift's own cosign-format signing. The last line it prints is
// the digest of the sealift image's index.
package main

import (
	"context"
	"crypto"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
	"oras.land/oras-go/v2"
	"oras.land/oras-go/v2/content/oci"

	"github.com/sealift-dev/sealift/internal/cosignfmt"
	"github.com/sealift-dev/sealift/internal/imagebuild"
	"github.com/sealift-dev/sealift/pull"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := run(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	if err != nil && !errors.Is(err, flag.ErrHelp) {
		fmt.Fprintln(os.Stderr, "image:", err)
		os.Exit(1)
	}
}

// sourceURL is the default org.opencontainers.image.source.
const sourceURL = "https://github.com/sealift-dev/sealift"

type options struct {
	dir, out, image, registryImage string
	platforms, created             string
	source, revision, version      string
	key, signFormat                string
	insecure                       bool
	// images overrides what is built (tests build a small program).
	images []imagebuild.Image
}

// defaultImages are sealift's two images; the first is the one whose digest
// is printed last.
var defaultImages = []imagebuild.Image{
	{Name: "sealift", Packages: []string{"./cmd/sealift-controller", "./cmd/sealift", "./cmd/sealift-registry"}},
	{Name: "sealift-registry", Packages: []string{"./cmd/sealift-registry"}},
}

// buildImages is what run builds; tests swap in a small program.
var buildImages = defaultImages

func run(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	o := options{images: buildImages}
	fs := flag.NewFlagSet("image", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.StringVar(&o.dir, "C", ".", "module root to build in")
	fs.StringVar(&o.out, "out", "bin/image", "directory of the OCI layouts (one per image) when -image is not given")
	fs.StringVar(&o.image, "image", "", "push the sealift image to this host/repository:tag instead of writing layouts")
	fs.StringVar(&o.registryImage, "registry-image", "", "where to push the sealift-registry image (default: -image's repository with -registry appended, same tag)")
	fs.StringVar(&o.platforms, "platforms", "linux/amd64,linux/arm64", "comma-separated os/arch list")
	fs.StringVar(&o.created, "created", os.Getenv("SOURCE_DATE_EPOCH"), "creation time, in Unix seconds, of every file, config and history entry (default $SOURCE_DATE_EPOCH, else 0)")
	fs.StringVar(&o.source, "source", sourceURL, "org.opencontainers.image.source")
	fs.StringVar(&o.revision, "revision", "", "org.opencontainers.image.revision (the commit)")
	fs.StringVar(&o.version, "version", "", "org.opencontainers.image.version")
	fs.StringVar(&o.key, "key", "", "cosign private key: sign each index digest (password from $"+cosignfmt.PasswordEnv+")")
	fs.StringVar(&o.signFormat, "sign-format", "legacy", "signature format with -key: legacy, bundle or both")
	fs.BoolVar(&o.insecure, "insecure", false, "plain HTTP to the registry (loopback registries use it anyway)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("unexpected arguments %q", fs.Args())
	}
	return o.run(ctx, stdout, stderr)
}

func (o *options) run(ctx context.Context, stdout, stderr io.Writer) error {
	var platforms []imagebuild.Platform
	for _, s := range strings.Split(o.platforms, ",") {
		p, err := imagebuild.ParsePlatform(strings.TrimSpace(s))
		if err != nil {
			return fmt.Errorf("-platforms: %w", err)
		}
		platforms = append(platforms, p)
	}
	created := time.Unix(0, 0)
	if o.created != "" {
		sec, err := strconv.ParseInt(o.created, 10, 64)
		if err != nil || sec < 0 {
			return fmt.Errorf("-created %q (SOURCE_DATE_EPOCH): want Unix seconds", o.created)
		}
		created = time.Unix(sec, 0)
	}
	switch o.signFormat {
	case "legacy", "bundle", "both":
	default:
		return fmt.Errorf("-sign-format %q: want legacy, bundle or both", o.signFormat)
	}
	targets, err := o.targets()
	if err != nil {
		return err
	}
	var signer crypto.Signer
	if o.key != "" {
		s, err := cosignfmt.LoadPrivateKeyFile(o.key, []byte(os.Getenv(cosignfmt.PasswordEnv)))
		if err != nil {
			return fmt.Errorf("-key: %w (set %s to the key's password)", err, cosignfmt.PasswordEnv)
		}
		signer = s
	}

	b, err := imagebuild.NewBuilder(imagebuild.Options{
		Dir: o.dir, Platforms: platforms, Created: created,
		Source: o.source, Revision: o.revision, Version: o.version, Log: stderr,
	})
	if err != nil {
		return err
	}
	defer b.Close()

	// Build and publish in reverse, so the sealift image's digest is the
	// last line.
	var last v1.Descriptor
	for i := len(o.images) - 1; i >= 0; i-- {
		img, t := o.images[i], targets[i]
		idx, err := b.Index(ctx, img)
		if err != nil {
			return err
		}
		size, err := imagebuild.Size(idx)
		if err != nil {
			return err
		}
		var desc v1.Descriptor
		var store oras.Target
		if t.layout != "" {
			if desc, err = imagebuild.WriteLayout(t.layout, t.tag, idx); err != nil {
				return err
			}
			if signer != nil {
				if store, err = oci.New(t.layout); err != nil {
					return fmt.Errorf("open layout %s to sign: %w", t.layout, err)
				}
			}
		} else {
			if desc, err = imagebuild.Push(ctx, t.ref, idx, o.insecure); err != nil {
				return err
			}
			if signer != nil {
				ref, err := pull.ParseReference(t.ref)
				if err != nil {
					return err
				}
				repo, err := pull.NewRepository(ref, pull.RemoteOptions{PlainHTTP: t.plainHTTP})
				if err != nil {
					return err
				}
				store = repo
			}
		}
		where := t.ref
		if t.layout != "" {
			where = "oci-layout:" + t.layout + ":" + t.tag
		}
		if signer != nil {
			if err := sign(ctx, store, desc, t.dockerRef, signer, o.signFormat); err != nil {
				return fmt.Errorf("sign %s: %w", where, err)
			}
		}
		fmt.Fprintf(stderr, "%s: %s@%s (%s, %.1f MiB across %d platform(s)%s)\n", img.Name, where, desc.Digest, desc.MediaType,
			float64(size)/(1<<20), len(platforms), map[bool]string{true: ", signed", false: ""}[signer != nil])
		last = desc
	}
	fmt.Fprintln(stdout, last.Digest)
	return nil
}

// target is where one image goes: an OCI layout directory, or a registry.
type target struct {
	layout, tag string
	ref         string
	plainHTTP   bool
	dockerRef   string // the repository named in signatures
}

func (o *options) targets() ([]target, error) {
	out := make([]target, len(o.images))
	if o.image == "" {
		if o.registryImage != "" {
			return nil, errors.New("-registry-image needs -image")
		}
		for i, img := range o.images {
			out[i] = target{layout: filepath.Join(o.out, img.Name), tag: "latest", dockerRef: img.Name}
		}
		return out, nil
	}
	refs := []string{o.image}
	if len(o.images) > 1 {
		reg := o.registryImage
		if reg == "" {
			r, err := name.NewTag(o.image, name.StrictValidation)
			if err != nil {
				return nil, fmt.Errorf("-image %q: want host/repository:tag: %w", o.image, err)
			}
			reg = r.Context().Name() + "-registry:" + r.TagStr()
		}
		refs = append(refs, reg)
	}
	for i, ref := range refs {
		var opts []name.Option
		if o.insecure {
			opts = append(opts, name.Insecure)
		}
		t, err := name.NewTag(ref, append(opts, name.StrictValidation)...)
		if err != nil {
			return nil, fmt.Errorf("image reference %q: want host/repository:tag: %w", ref, err)
		}
		out[i] = target{ref: ref, plainHTTP: t.Context().Registry.Scheme() == "http", dockerRef: t.Context().Name()}
	}
	return out, nil
}

// sign signs desc in target in the given cosign format(s).
func sign(ctx context.Context, target oras.Target, desc v1.Descriptor, dockerRef string, signer crypto.Signer, format string) error {
	subject := ocispec.Descriptor{MediaType: string(desc.MediaType), Digest: digest.Digest(desc.Digest.String()), Size: desc.Size}
	if format == "legacy" || format == "both" {
		if err := cosignfmt.SignLegacy(ctx, target, subject, dockerRef, signer); err != nil {
			return err
		}
	}
	if format == "bundle" || format == "both" {
		if _, err := cosignfmt.SignBundle(ctx, target, subject, signer); err != nil {
			return err
		}
	}
	return nil
}
