module loom

go 1.26.0

require (
	9fans.net/go v0.0.8-0.20250307142834-96bdba94b63f // indirect
	github.com/hugelgupf/p9 v0.3.0 // indirect
	golang.org/x/sys v0.50.0 // indirect
)
