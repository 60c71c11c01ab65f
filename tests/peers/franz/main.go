// Command franz-peer drives a Kafka broker with the franz-go client for the
// integration tests: a keyed produce and a consume, records exchanged as hex.
//
//	franz-peer produce -brokers H:P -topic T [-acks all|leader|none]
//	    stdin: one record a line, "KEYHEX VALUEHEX" ("-" = null, "=" = empty)
//	    stdout: "PARTITION OFFSET" for each record, in input order
//	franz-peer consume -brokers H:P -topic T -n N [-timeout 30s] [-group G]
//	    stdout: "PARTITION OFFSET KEYHEX VALUEHEX" for N records read from the
//	    start of every partition; exit 1 if fewer arrive before the timeout
//	franz-peer version
//
// SASL when PEER_SASL_MECHANISM is set (PLAIN, SCRAM-SHA-256, SCRAM-SHA-512),
// with PEER_SASL_USERNAME and PEER_SASL_PASSWORD.
package main

import (
	"bufio"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/hex"
	"errors"
	"flag"
	"fmt"
	"os"
	"runtime/debug"
	"strings"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/sasl"
	"github.com/twmb/franz-go/pkg/sasl/plain"
	"github.com/twmb/franz-go/pkg/sasl/scram"
)

// saslOpts: the SASL mechanism named by the environment, if any.
func saslOpts() []kgo.Opt {
	user, pass := os.Getenv("PEER_SASL_USERNAME"), os.Getenv("PEER_SASL_PASSWORD")
	var m sasl.Mechanism
	switch os.Getenv("PEER_SASL_MECHANISM") {
	case "":
		return nil
	case "PLAIN":
		m = plain.Auth{User: user, Pass: pass}.AsMechanism()
	case "SCRAM-SHA-256":
		m = scram.Auth{User: user, Pass: pass}.AsSha256Mechanism()
	case "SCRAM-SHA-512":
		m = scram.Auth{User: user, Pass: pass}.AsSha512Mechanism()
	default:
		die("unknown PEER_SASL_MECHANISM %q", os.Getenv("PEER_SASL_MECHANISM"))
	}
	return []kgo.Opt{kgo.SASL(m)}
}

func die(format string, args ...any) {
	fmt.Fprintf(os.Stderr, "franz-peer: "+format+"\n", args...)
	os.Exit(1)
}

func decodeHex(s string) []byte {
	if s == "-" {
		return nil
	}
	if s == "=" {
		return []byte{}
	}
	b, err := hex.DecodeString(s)
	if err != nil {
		die("bad hex %q: %v", s, err)
	}
	if b == nil {
		b = []byte{}
	}
	return b
}

func encodeHex(b []byte) string {
	if b == nil {
		return "-"
	}
	if len(b) == 0 {
		return "="
	}
	return hex.EncodeToString(b)
}

// tlsOpt connects over TLS trusting the PEM authorities in caFile ("" =
// plaintext).
func tlsOpt(caFile string) []kgo.Opt {
	if caFile == "" {
		return nil
	}
	pem, err := os.ReadFile(caFile)
	if err != nil {
		die("%v", err)
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(pem) {
		die("no certificate in %s", caFile)
	}
	return []kgo.Opt{kgo.DialTLSConfig(&tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12})}
}

func produce(args []string) {
	fs := flag.NewFlagSet("produce", flag.ExitOnError)
	brokers := fs.String("brokers", "127.0.0.1:9092", "bootstrap servers")
	topic := fs.String("topic", "", "topic")
	acks := fs.String("acks", "all", "all, leader or none")
	tlsCA := fs.String("tls-ca", "", "connect over TLS trusting this PEM file")
	timeout := fs.Duration("timeout", 30*time.Second, "overall deadline")
	fs.Parse(args)

	opts := []kgo.Opt{
		kgo.SeedBrokers(strings.Split(*brokers, ",")...),
		kgo.DefaultProduceTopic(*topic),
		kgo.RecordPartitioner(kgo.StickyKeyPartitioner(nil)),
	}
	opts = append(opts, tlsOpt(*tlsCA)...)
	switch *acks {
	case "all":
		opts = append(opts, kgo.RequiredAcks(kgo.AllISRAcks()))
	case "leader":
		opts = append(opts, kgo.RequiredAcks(kgo.LeaderAck()), kgo.DisableIdempotentWrite())
	case "none":
		opts = append(opts, kgo.RequiredAcks(kgo.NoAck()), kgo.DisableIdempotentWrite())
	default:
		die("bad -acks %q", *acks)
	}
	cl, err := kgo.NewClient(append(opts, saslOpts()...)...)
	if err != nil {
		die("client: %v", err)
	}
	defer cl.Close()

	var recs []*kgo.Record
	sc := bufio.NewScanner(os.Stdin)
	sc.Buffer(make([]byte, 1<<20), 64<<20)
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if line == "" {
			continue
		}
		f := strings.Fields(line)
		if len(f) != 2 {
			die("bad input line %q", line)
		}
		recs = append(recs, &kgo.Record{Key: decodeHex(f[0]), Value: decodeHex(f[1])})
	}
	ctx, cancel := context.WithTimeout(context.Background(), *timeout)
	defer cancel()
	// Results come back in completion order; report them in input order.
	errs := make(map[*kgo.Record]error, len(recs))
	for _, r := range cl.ProduceSync(ctx, recs...) {
		errs[r.Record] = r.Err
	}
	out := bufio.NewWriter(os.Stdout)
	for _, r := range recs {
		err, ok := errs[r]
		if !ok {
			die("no result for a record")
		}
		if err != nil {
			die("produce: %v", err)
		}
		fmt.Fprintf(out, "%d %d\n", r.Partition, r.Offset)
	}
	out.Flush()
}

func consume(args []string) {
	fs := flag.NewFlagSet("consume", flag.ExitOnError)
	brokers := fs.String("brokers", "127.0.0.1:9092", "bootstrap servers")
	topic := fs.String("topic", "", "topic")
	n := fs.Int("n", 0, "records to read")
	group := fs.String("group", "", "consumer group (none: direct partitions)")
	tlsCA := fs.String("tls-ca", "", "connect over TLS trusting this PEM file")
	timeout := fs.Duration("timeout", 30*time.Second, "overall deadline")
	fs.Parse(args)

	opts := []kgo.Opt{
		kgo.SeedBrokers(strings.Split(*brokers, ",")...),
		kgo.ConsumeTopics(*topic),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()),
	}
	opts = append(opts, tlsOpt(*tlsCA)...)
	if *group != "" {
		opts = append(opts, kgo.ConsumerGroup(*group))
	}
	cl, err := kgo.NewClient(append(opts, saslOpts()...)...)
	if err != nil {
		die("client: %v", err)
	}
	defer cl.Close()

	ctx, cancel := context.WithTimeout(context.Background(), *timeout)
	defer cancel()
	out := bufio.NewWriter(os.Stdout)
	defer out.Flush()
	got := 0
	for got < *n {
		fetches := cl.PollRecords(ctx, *n-got)
		if ctx.Err() != nil {
			out.Flush()
			die("timeout after %d of %d records", got, *n)
		}
		var ferr error
		fetches.EachError(func(t string, p int32, err error) {
			if !errors.Is(err, context.DeadlineExceeded) {
				ferr = fmt.Errorf("%s[%d]: %w", t, p, err)
			}
		})
		if ferr != nil {
			out.Flush()
			die("fetch: %v", ferr)
		}
		fetches.EachRecord(func(r *kgo.Record) {
			fmt.Fprintf(out, "%d %d %s %s\n", r.Partition, r.Offset, encodeHex(r.Key), encodeHex(r.Value))
			got++
		})
	}
	if *group != "" {
		if err := cl.CommitUncommittedOffsets(ctx); err != nil {
			die("commit: %v", err)
		}
	}
}

func version() {
	bi, ok := debug.ReadBuildInfo()
	if !ok {
		die("no build info")
	}
	for _, d := range bi.Deps {
		if d.Path == "github.com/twmb/franz-go" {
			fmt.Println(d.Version)
			return
		}
	}
	die("franz-go not linked")
}

func main() {
	if len(os.Args) < 2 {
		die("usage: franz-peer produce|consume|version [flags]")
	}
	switch os.Args[1] {
	case "produce":
		produce(os.Args[2:])
	case "consume":
		consume(os.Args[2:])
	case "version":
		version()
	default:
		die("unknown command %q", os.Args[1])
	}
}
