package main

import (
	"fmt"
	"runtime"
	"runtime/debug"
	"strings"

	"github.com/spf13/cobra"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/util/validation"
	"k8s.io/client-go/dynamic"
)

// version is the client's version when the build sets it:
//
//	go build -ldflags "-X main.version=v1.2.3" ./cmd/sealift
//
// Unset, the module version Go stamps into the binary is used.
var version = ""

// Where the install puts the controller, and the label its version is read
// from (app.kubernetes.io/version, as Flux's install labels its own).
const (
	controllerNamespace  = "sealift-system"
	controllerDeployment = "sealift-controller"
	versionLabel         = "app.kubernetes.io/version"
)

// shortCommitHex is how much of the VCS revision version prints.
const shortCommitHex = 12

var deploymentResource = schema.GroupVersionResource{Group: "apps", Version: "v1", Resource: "deployments"}

type versionOptions struct {
	kube       kubeOptions
	namespace  string
	clientOnly bool
	output     outputOptions
}

// versionInfo is what version prints (-o json: as is).
type versionInfo struct {
	Client     clientVersion      `json:"client"`
	Controller *controllerVersion `json:"controller,omitempty"`
}

type clientVersion struct {
	Version   string `json:"version"`
	Commit    string `json:"commit,omitempty"`
	Modified  bool   `json:"modified,omitempty"`
	GoVersion string `json:"goVersion"`
	Platform  string `json:"platform"`
}

type controllerVersion struct {
	Installed  bool   `json:"installed"`
	Deployment string `json:"deployment"`
	Version    string `json:"version,omitempty"`
	Image      string `json:"image,omitempty"`
	Replicas   int64  `json:"replicas"`
	Ready      int64  `json:"readyReplicas"`
}

func newVersionCmd() *cobra.Command {
	var o versionOptions
	cmd := &cobra.Command{
		Use:   "version",
		Short: "Print the client's version and the installed controller's",
		Long: `Print the version of this sealift binary and, unless --client, of the controller
installed in the cluster: the ` + versionLabel + ` label of the Deployment
` + controllerDeployment + ` in --namespace (` + controllerNamespace + ` by default), which the install sets,
with its image and ready replicas. Without that Deployment the controller is "not
installed"; an unreachable cluster is an error (exit 1) after the client's version.`,
		Example: `  sealift version
  sealift version --client
  sealift version -o json`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return o.run(cmd)
		},
	}
	f := cmd.Flags()
	f.BoolVar(&o.clientOnly, "client", false, "print the client's version only, without reaching the cluster")
	f.StringVarP(&o.namespace, "namespace", "n", controllerNamespace, "namespace the controller is installed in")
	o.output.addFlags(f)
	o.kube.addFlags(f)
	return cmd
}

func (o *versionOptions) run(cmd *cobra.Command) error {
	if err := o.output.validate(); err != nil {
		return err
	}
	if errs := validation.IsDNS1123Label(o.namespace); len(errs) > 0 {
		return withHint(fmt.Errorf("--namespace %q: not a namespace name: %s", o.namespace, strings.Join(errs, "; ")), "pass the namespace sealift is installed in")
	}
	info := versionInfo{Client: clientVersionInfo()}
	if o.clientOnly {
		return o.print(cmd, info)
	}
	ctl, err := o.controller(cmd)
	if err != nil {
		// The client's version is still worth printing.
		_ = o.print(cmd, info)
		return err
	}
	info.Controller = ctl
	return o.print(cmd, info)
}

func (o *versionOptions) print(cmd *cobra.Command, info versionInfo) error {
	w := cmd.OutOrStdout()
	if o.output.json() {
		return writeJSON(w, info)
	}
	c := info.Client
	details := []string{}
	if c.Commit != "" {
		commit := "commit " + c.Commit
		if c.Modified {
			commit += ", modified"
		}
		details = append(details, commit)
	}
	details = append(details, c.GoVersion, c.Platform)
	fmt.Fprintf(w, "client: %s (%s)\n", c.Version, strings.Join(details, ", "))
	if ctl := info.Controller; ctl != nil {
		if !ctl.Installed {
			fmt.Fprintf(w, "controller: not installed (no Deployment %s)\n", ctl.Deployment)
		} else {
			fmt.Fprintf(w, "controller: %s (Deployment %s, image %s, %d/%d ready)\n", ctl.Version, ctl.Deployment, ctl.Image, ctl.Ready, ctl.Replicas)
		}
	}
	return nil
}

// clientVersionInfo reads the version set at link time, else the build
// information Go records.
func clientVersionInfo() clientVersion {
	v := clientVersion{Version: version, GoVersion: runtime.Version(), Platform: runtime.GOOS + "/" + runtime.GOARCH}
	bi, ok := debug.ReadBuildInfo()
	if !ok {
		if v.Version == "" {
			v.Version = "unknown"
		}
		return v
	}
	if v.Version == "" {
		v.Version = bi.Main.Version
	}
	if v.Version == "" || v.Version == "(devel)" {
		v.Version = "devel"
	}
	for _, s := range bi.Settings {
		switch s.Key {
		case "vcs.revision":
			v.Commit = s.Value
			if len(v.Commit) > shortCommitHex {
				v.Commit = v.Commit[:shortCommitHex]
			}
		case "vcs.modified":
			v.Modified = s.Value == "true"
		}
	}
	return v
}

// controller reads the controller's Deployment.
func (o *versionOptions) controller(cmd *cobra.Command) (*controllerVersion, error) {
	cfg, err := o.kube.restConfig()
	if err != nil {
		return nil, withHint(err, "pass --client to print the client's version alone")
	}
	dyn, err := dynamic.NewForConfig(cfg)
	if err != nil {
		return nil, err
	}
	ctl := &controllerVersion{Deployment: o.namespace + "/" + controllerDeployment}
	d, err := dyn.Resource(deploymentResource).Namespace(o.namespace).Get(cmd.Context(), controllerDeployment, metav1.GetOptions{})
	if apierrors.IsNotFound(err) {
		return ctl, nil
	}
	if err != nil {
		return nil, withHint(fmt.Errorf("read the controller's Deployment %s: %w", ctl.Deployment, err),
			"%s; or pass --client to print the client's version alone", clusterHint(err))
	}
	ctl.Installed = true
	ctl.Version = d.GetLabels()[versionLabel]
	containers, _, _ := unstructured.NestedSlice(d.Object, "spec", "template", "spec", "containers")
	if len(containers) > 0 {
		if c, ok := containers[0].(map[string]any); ok {
			ctl.Image, _ = c["image"].(string)
		}
	}
	ctl.Replicas = 1 // the API server's default when spec.replicas is unset
	if n, ok, _ := unstructured.NestedInt64(d.Object, "spec", "replicas"); ok {
		ctl.Replicas = n
	}
	ctl.Ready, _, _ = unstructured.NestedInt64(d.Object, "status", "readyReplicas")
	if ctl.Version == "" {
		ctl.Version = "unknown (no " + versionLabel + " label)"
	}
	return ctl, nil
}
