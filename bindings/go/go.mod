module wxtokend.dev/wxshm

go 1.19
