package main

import "github.com/spf13/cobra"

// TODO(foundation): replaced by the real command.
func newVerifyCmd() *cobra.Command { return &cobra.Command{Use: "verify"} }
