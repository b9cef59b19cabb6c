module higress-plugin-server/bench/delayline

go 1.24
