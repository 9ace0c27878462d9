module haraft.bench/backend

go 1.26
