module gatewayconsole.local/gatewayconsole

go 1.22
