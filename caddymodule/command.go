package caddymodule

import (
	caddycmd "github.com/caddyserver/caddy/v2/cmd"
	"github.com/spf13/cobra"
)

// subcommands are the verbs under `caddy sale-track`. Each lives in a file of
// its own and adds itself here from an init function, so the root command
// never has to know them by name.
var subcommands []func() *cobra.Command

func init() {
	caddycmd.RegisterCommand(caddycmd.Command{
		Name:  "sale-track",
		Usage: "<command> [flags]",
		Short: "Tools for the sale_track module",
		Long: `
Tools that show what the sale_track module does with a configuration
and with live traffic. Run 'caddy sale-track <command> --help' for one.`,
		CobraFunc: func(cmd *cobra.Command) {
			for _, sub := range subcommands {
				cmd.AddCommand(sub())
			}
		},
	})
}
