module greenchan-bench/go

go 1.19
