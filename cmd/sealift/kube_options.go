package main

import (
	"fmt"

	"github.com/spf13/pflag"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"

	"github.com/sealift-dev/sealift/deploy"
)

// kubeOptions selects the cluster: --kubeconfig, else $KUBECONFIG, else
// ~/.kube/config, else the in-cluster service account.
type kubeOptions struct {
	Kubeconfig string
	Context    string
}

func (o *kubeOptions) addFlags(fs *pflag.FlagSet) {
	fs.StringVar(&o.Kubeconfig, "kubeconfig", "", "path to a kubeconfig (default $KUBECONFIG or ~/.kube/config)")
	fs.StringVar(&o.Context, "context", "", "kubeconfig context to use")
}

// clientConfig finds the kubeconfig as kubectl does, without reading it yet.
func (o *kubeOptions) clientConfig() clientcmd.ClientConfig {
	rules := clientcmd.NewDefaultClientConfigLoadingRules()
	if o.Kubeconfig != "" {
		rules.ExplicitPath = o.Kubeconfig
	}
	return clientcmd.NewNonInteractiveDeferredLoadingClientConfig(rules, &clientcmd.ConfigOverrides{CurrentContext: o.Context})
}

func (o *kubeOptions) restConfig() (*rest.Config, error) {
	cfg, err := o.clientConfig().ClientConfig()
	if err != nil {
		return nil, withHint(fmt.Errorf("load kubeconfig: %w", err), "pass --kubeconfig FILE or set KUBECONFIG")
	}
	// client-go's default of 5 requests a second would turn a wait on many
	// objects into a wait on the token bucket.
	deploy.NoClientRateLimit(cfg)
	return cfg, nil
}
