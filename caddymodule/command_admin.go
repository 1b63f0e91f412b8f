package caddymodule

import (
	"fmt"

	caddycmd "github.com/caddyserver/caddy/v2/cmd"
	"github.com/spf13/cobra"
)

// adminFlagsHelp says how a command that talks to a running Caddy finds
// its admin endpoint.
const adminFlagsHelp = `The admin endpoint is found as 'caddy reload' finds it: --address, else
the admin address in the --config file, else localhost:2019.`

// addAdminFlags gives cmd the flags of Caddy's commands that talk to the
// admin API.
func addAdminFlags(cmd *cobra.Command) {
	f := cmd.Flags()
	f.StringP("address", "", "", "The address of the admin API")
	f.StringP("config", "c", "", "The config file whose admin address to use")
	f.StringP("adapter", "a", "", "The name of the config adapter")
}

// adminAddress is the admin endpoint the flags of addAdminFlags name.
func adminAddress(cmd *cobra.Command) (string, error) {
	f := cmd.Flags()
	address, _ := f.GetString("address")
	configFile, _ := f.GetString("config")
	adapter, _ := f.GetString("adapter")
	addr, err := caddycmd.DetermineAdminAPIAddress(address, nil, configFile, adapter)
	if err != nil {
		return "", fmt.Errorf("finding the admin address: %w", err)
	}
	return addr, nil
}
