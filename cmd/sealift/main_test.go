package main

import (
	"os"
	"testing"

	"github.com/sealift-dev/sealift/internal/kubetest"
)

// kubeEnv is the real API server the sync and diff command tests apply to.
var kubeEnv *kubetest.Env

func TestMain(m *testing.M) { os.Exit(kubetest.Run(m, &kubeEnv)) }
