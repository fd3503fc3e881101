//go:build !cgo || !linux

package telemetry

const cgoEnabled = false
