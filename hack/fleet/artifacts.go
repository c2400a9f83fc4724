package main

import (
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	"golang.org/x/sync/errgroup"

	"github.com/sealift-dev/sealift/internal/cosignfmt"
	"github.com/sealift-dev/sealift/pull"
	"github.com/sealift-dev/sealift/push"
)

// podinfo is the application each artifact holds, in the shape of Flux's
// fleet benchmark: a Deployment scaled to 0, a ServiceAccount, a Service and
// an Ingress, named after the artifact's index so every artifact (and so
// every digest) differs. The Service is headless: the test API server's
// service IP range is too small for a fleet.
const podinfo = `apiVersion: v1
kind: ServiceAccount
metadata:
  name: podinfo-INDEX
  labels:
    app.kubernetes.io/name: podinfo-INDEX
    app.kubernetes.io/version: "6.5.3"
---
apiVersion: v1
kind: Service
metadata:
  name: podinfo-INDEX
  labels:
    app.kubernetes.io/name: podinfo-INDEX
    app.kubernetes.io/version: "6.5.3"
spec:
  clusterIP: None
  ports:
    - port: 9898
      targetPort: http
      protocol: TCP
      name: http
    - port: 9999
      targetPort: grpc
      protocol: TCP
      name: grpc
  selector:
    app.kubernetes.io/name: podinfo-INDEX
---
apiVersion: apps/v1
kind: Deployment
metadata:
  name: podinfo-INDEX
  labels:
    app.kubernetes.io/name: podinfo-INDEX
    app.kubernetes.io/version: "6.5.3"
spec:
  replicas: 0
  strategy:
    type: RollingUpdate
    rollingUpdate:
      maxUnavailable: 1
  selector:
    matchLabels:
      app.kubernetes.io/name: podinfo-INDEX
  template:
    metadata:
      labels:
        app.kubernetes.io/name: podinfo-INDEX
      annotations:
        prometheus.io/scrape: "true"
        prometheus.io/port: "9898"
    spec:
      terminationGracePeriodSeconds: 30
      serviceAccountName: podinfo-INDEX
      containers:
        - name: podinfo
          image: ghcr.io/stefanprodan/podinfo:6.5.3
          imagePullPolicy: IfNotPresent
          command:
            - ./podinfo
            - --port=9898
            - --cert-path=/data/cert
            - --port-metrics=9797
            - --grpc-port=9999
            - --grpc-service-name=podinfo
            - --level=info
          env:
            - name: PODINFO_UI_COLOR
              value: "#34577c"
          ports:
            - name: http
              containerPort: 9898
              protocol: TCP
            - name: http-metrics
              containerPort: 9797
              protocol: TCP
            - name: grpc
              containerPort: 9999
              protocol: TCP
          readinessProbe:
            exec:
              command: [podcli, check, http, localhost:9898/readyz]
            initialDelaySeconds: 1
            periodSeconds: 10
          volumeMounts:
            - name: data
              mountPath: /data
          resources:
            requests:
              cpu: 1m
              memory: 16Mi
      volumes:
        - name: data
          emptyDir: {}
---
apiVersion: networking.k8s.io/v1
kind: Ingress
metadata:
  name: podinfo-INDEX
  labels:
    app.kubernetes.io/name: podinfo-INDEX
    app.kubernetes.io/version: "6.5.3"
spec:
  ingressClassName: nginx
  rules:
    - host: podinfo-INDEX.local
      http:
        paths:
          - path: /
            pathType: ImplementationSpecific
            backend:
              service:
                name: podinfo-INDEX
                port:
                  number: 9898
`

// objectsPerArtifact is how many objects each artifact holds.
const objectsPerArtifact = 4

const artifactTag = "1.0.0"

// fleetKey is the key pair every artifact is signed with.
type fleetKey struct {
	signer    crypto.Signer
	publicPEM []byte
}

func newFleetKey() (fleetKey, error) {
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return fleetKey{}, err
	}
	pub, err := cosignfmt.MarshalPublicKey(k.Public())
	if err != nil {
		return fleetKey{}, err
	}
	return fleetKey{signer: k, publicPEM: pub}, nil
}

// repoURL is where artifact i lives.
func repoURL(addr string, i int) string {
	return fmt.Sprintf("oci://%s/fleet/podinfo-%d", addr, i)
}

// publish pushes n artifacts (each its own repository, tag artifactTag) as
// CI does, and signs each digest with key in cosign's format.
func publish(ctx context.Context, dir, addr string, n int, key fleetKey) error {
	g, ctx := errgroup.WithContext(ctx)
	g.SetLimit(8)
	created := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	for i := range n {
		g.Go(func() error {
			src := filepath.Join(dir, "artifacts", fmt.Sprint(i))
			if err := os.MkdirAll(src, 0o755); err != nil {
				return err
			}
			body := strings.ReplaceAll(podinfo, "INDEX", fmt.Sprintf("%dapp", i))
			if err := os.WriteFile(filepath.Join(src, "podinfo.yaml"), []byte(body), 0o644); err != nil {
				return err
			}
			ref, err := pull.ParseReference(repoURL(addr, i) + ":" + artifactTag)
			if err != nil {
				return err
			}
			repo, err := pull.NewRepository(ref, pull.RemoteOptions{PlainHTTP: true})
			if err != nil {
				return err
			}
			desc, err := push.Push(ctx, src, repo, artifactTag, push.Options{
				Source: "https://example.com/podinfo", Revision: fmt.Sprintf("%d", i), Created: created,
			})
			if err != nil {
				return fmt.Errorf("push artifact %d: %w", i, err)
			}
			if err := cosignfmt.SignLegacy(ctx, repo, desc, ref.Repo(), key.signer); err != nil {
				return fmt.Errorf("sign artifact %d: %w", i, err)
			}
			return os.RemoveAll(src)
		})
	}
	return g.Wait()
}
