package api

import (
	"context"
	"net/http"
)

// PathHeartbeat is the signed worker route a node sends its heartbeats to
// (POST): the coordinator counts a node online between heartbeats at most
// 3 × interval_ms apart, and appends one NodeAvailability per node seen at
// each epoch close. A worker sends them on an interval while idle and
// while rendering.
const PathHeartbeat = "/v1/worker/heartbeat"

// PathSchedule is the admin route (POST, bearer) that records an emission
// schedule: the body is the data of one EmissionScheduleSet.
const PathSchedule = "/v1/schedule"

// HeartbeatRequest is the body of a heartbeat; State ("idle" or
// "rendering") is informational: busy time comes from leases held.
type HeartbeatRequest struct {
	State string `json:"state,omitempty"`
}

// HeartbeatResponse tells the node what the coordinator has counted in
// the open epoch.
type HeartbeatResponse struct {
	NodeID     string `json:"node_id"`
	Epoch      uint64 `json:"epoch"`
	OnlineMS   int64  `json:"online_ms"`
	BusyMS     int64  `json:"busy_ms"`
	WindowMS   int64  `json:"window_ms"`
	IntervalMS int64  `json:"interval_ms"`
}

// Heartbeat sends one signed heartbeat.
func (c *Client) Heartbeat(ctx context.Context, state string) (*HeartbeatResponse, error) {
	var out HeartbeatResponse
	return &out, c.Call(ctx, http.MethodPost, PathHeartbeat, Signed, HeartbeatRequest{State: state}, &out)
}

// SetSchedule records an emission schedule (admin).
func (c *Client) SetSchedule(ctx context.Context, schedule any) (*EventResponse, error) {
	var out EventResponse
	return &out, c.Call(ctx, http.MethodPost, PathSchedule, Bearer, schedule, &out)
}
