package sim

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	mqtt "github.com/eclipse/paho.mqtt.golang"
)

// publisher is one MQTT connection with a bounded window of messages
// awaiting their PUBACK.
type publisher struct {
	sim    *Simulator
	log    *slog.Logger
	client mqtt.Client
	qos    byte
	window int
	drain  time.Duration
}

// connect opens the connections conns; on failure it closes those already
// open.
func (s *Simulator) connect(ctx context.Context, cfg Config, conns []conn) ([]*publisher, error) {
	pubs := make([]*publisher, 0, len(conns))
	for _, cn := range conns {
		id := cn.clientID
		log := s.log.With("client_id", id)
		opts := mqtt.NewClientOptions().
			AddBroker(cfg.Broker).
			SetClientID(id).
			SetUsername(cn.username).
			SetPassword(cn.password).
			// MQTT 3.1.1 only: paho's fallback to 3.1 would turn a refused
			// login into an opaque EOF.
			SetProtocolVersion(4).
			SetCleanSession(true).
			SetAutoReconnect(true).
			SetConnectRetry(false).
			SetConnectTimeout(10 * time.Second).
			SetMaxReconnectInterval(10 * time.Second).
			SetKeepAlive(30 * time.Second).
			SetWriteTimeout(30 * time.Second).
			SetOrderMatters(false).
			SetMaxResumePubInFlight(cfg.MaxInFlight).
			SetOnConnectHandler(func(mqtt.Client) { log.Info("connected") }).
			SetConnectionLostHandler(func(_ mqtt.Client, err error) { log.Warn("connection lost", "err", err) }).
			SetReconnectingHandler(func(mqtt.Client, *mqtt.ClientOptions) { log.Info("reconnecting") })
		if cfg.TLS != nil {
			opts.SetTLSConfig(cfg.TLS)
		}
		c := mqtt.NewClient(opts)
		tok := c.Connect()
		select {
		case <-tok.Done():
		case <-ctx.Done():
		}
		err := tok.Error()
		if err == nil && ctx.Err() != nil {
			err = ctx.Err()
		}
		if err != nil {
			c.Disconnect(0)
			for _, p := range pubs {
				p.client.Disconnect(250)
			}
			return nil, fmt.Errorf("connect %s as %q to %s: %w", id, cn.username, redactURL(cfg.Broker), err)
		}
		pubs = append(pubs, &publisher{sim: s, log: log, client: c, qos: cfg.QoS, window: cfg.MaxInFlight, drain: cfg.DrainTimeout})
	}
	return pubs, nil
}

// run publishes the messages of in until it is closed or ctx is cancelled,
// then waits (up to the drain timeout) for the outstanding PUBACKs and
// disconnects. Messages still queued when ctx is cancelled are not sent.
func (p *publisher) run(ctx context.Context, in <-chan Message) {
	slots := make(chan struct{}, p.window)
	pending := make(chan mqtt.Token, p.window)
	abandon := make(chan struct{})
	acksDone := make(chan struct{})
	go func() {
		defer close(acksDone)
		p.awaitAcks(pending, slots, abandon)
	}()

loop:
	for {
		select {
		case <-ctx.Done():
			break loop
		case m, ok := <-in:
			if !ok {
				break loop
			}
			select {
			case slots <- struct{}{}:
			case <-ctx.Done():
				break loop
			}
			tok := p.client.Publish(m.Topic, p.qos, false, m.Payload)
			p.sim.published.Add(1)
			switch m.Kind {
			case KindMalformed:
				p.sim.malformed.Add(1)
			case KindDuplicate:
				p.sim.duplicates.Add(1)
			}
			pending <- tok
		}
	}
	close(pending)

	drain := time.NewTimer(p.drain)
	defer drain.Stop()
	select {
	case <-acksDone:
	case <-drain.C:
		p.log.Warn("drain timeout: messages still awaiting their puback", "in_flight", len(slots))
	}
	// Disconnect fails the tokens still outstanding; abandon covers any
	// token paho would not complete.
	p.client.Disconnect(250)
	grace := time.NewTimer(2 * time.Second)
	defer grace.Stop()
	select {
	case <-acksDone:
	case <-grace.C:
		close(abandon)
		<-acksDone
	}
}

// awaitAcks completes the tokens of pending in order, counting acks and
// failures and freeing a slot for each. It logs a failure when publishing
// turns from succeeding to failing, not once per message.
func (p *publisher) awaitAcks(pending <-chan mqtt.Token, slots <-chan struct{}, abandon <-chan struct{}) {
	failing := false
	for tok := range pending {
		var err error
		select {
		case <-tok.Done():
			err = tok.Error()
		case <-abandon:
			err = errors.New("abandoned at shutdown")
		}
		<-slots
		if err != nil {
			p.sim.failed.Add(1)
			if !failing {
				p.log.Warn("publish failed", "err", err)
				failing = true
			}
			continue
		}
		p.sim.acked.Add(1)
		failing = false
	}
}
