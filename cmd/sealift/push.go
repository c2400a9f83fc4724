package main

import "github.com/spf13/cobra"

// TODO(foundation): replaced by the real command.
func newPushCmd() *cobra.Command { return &cobra.Command{Use: "push"} }
