package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"time"

	influxdb2 "github.com/influxdata/influxdb-client-go/v2"

	"github.com/qingliu/qingliu/internal/config"
)

// newInflux builds the InfluxDB client with no retries of its own: the writer
// classifies errors and retries from JetStream.
func newInflux(c config.InfluxDB) influxdb2.Client {
	opts := influxdb2.DefaultOptions().
		SetHTTPRequestTimeout(uint(c.Timeout.D() / time.Second)).
		SetLogLevel(0).
		SetMaxRetries(0)
	return influxdb2.NewClientWithOptions(c.URL, c.Token, opts)
}

// ensureDatabase creates the database (InfluxDB 1.8, through its /query
// endpoint) or the bucket (2.x, when org is set) if it is missing.
func ensureDatabase(ctx context.Context, c config.InfluxDB, client influxdb2.Client) error {
	if c.Org != "" {
		b := client.BucketsAPI()
		if _, err := b.FindBucketByName(ctx, c.Bucket); err == nil {
			return nil
		}
		org, err := client.OrganizationsAPI().FindOrganizationByName(ctx, c.Org)
		if err != nil {
			return fmt.Errorf("influxdb org %q: %w", c.Org, err)
		}
		if _, err := b.CreateBucketWithName(ctx, org, c.Bucket); err != nil {
			return fmt.Errorf("create influxdb bucket %q: %w", c.Bucket, err)
		}
		return nil
	}
	q := url.Values{"q": {fmt.Sprintf("CREATE DATABASE %q", c.Database)}}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, strings.TrimRight(c.URL, "/")+"/query", strings.NewReader(q.Encode()))
	if err != nil {
		return fmt.Errorf("create influxdb database: %w", err)
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	if c.Token != "" {
		req.Header.Set("Authorization", "Token "+c.Token)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return fmt.Errorf("influxdb at %s not reachable: %w", c.URL, errors.Unwrap(err))
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(io.LimitReader(resp.Body, 1024))
	if resp.StatusCode/100 != 2 || strings.Contains(string(body), `"error"`) {
		return fmt.Errorf("create influxdb database %q: %s %s", c.Database, resp.Status, strings.TrimSpace(string(body)))
	}
	return nil
}
