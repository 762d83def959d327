// Command gobench runs the DESIGN §4 workloads on Go's own runtime, the model greenchan
// follows: goroutines, unbuffered channels, select, and asynchronous preemption.
//
// It speaks the harness's protocol (see bench/src/lib.rs):
//
//	gobench <workload> --workers N --size S
//	RESULT <workload> <metric> <value> | UNSUPPORTED <reason> | NOTE <text> | NEVERRAN <text> | LISTENING <port>
//
// --workers sets GOMAXPROCS (0 keeps Go's default, one per CPU): "one worker" is one P, so one
// goroutine runs Go code at a time (other OS threads, such as sysmon's or one blocked in a
// system call, run no goroutine). Only the standard library is used, so `go build` works
// offline.
package main

import (
	"bufio"
	"bytes"
	"flag"
	"fmt"
	"net"
	"os"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

const (
	skynetFanout = 10
	mpmcSides    = 4
	mpmcCap      = 128
	selectArms   = 4
	yieldTasks   = 100
	starveSleeps = 20
	timersCap    = 128
	timersLive   = 10_000
)

var httpResponse = []byte("HTTP/1.1 200 OK\r\nServer: bench\r\nContent-Type: text/plain\r\nContent-Length: 13\r\n\r\nHello, World!")

var out = bufio.NewWriter(os.Stdout)

func report(workload, metric string, v float64) {
	fmt.Fprintf(out, "RESULT %s %s %.3f\n", workload, metric, v)
	out.Flush()
}

func reportNsPer(workload, metric string, d time.Duration, ops int64) {
	report(workload, metric, float64(d.Nanoseconds())/float64(ops))
}

func note(s string) {
	fmt.Fprintf(out, "NOTE %s\n", s)
	out.Flush()
}

func check(ok bool, what string) {
	if !ok {
		fmt.Fprintln(os.Stderr, "wrong result:", what)
		os.Exit(3)
	}
}

func defaultSize(w string) int64 {
	switch w {
	case "spawn", "spawn-wg", "skynet", "pingpong", "select":
		return 1_000_000
	case "timers", "timers-mem", "timers-churn":
		return 1_000_000
	case "mpmc":
		return 4_000_000
	case "yield", "parked":
		return 100_000
	case "starve":
		return 1000
	case "stuck":
		return 5000
	}
	return 0
}

func main() {
	if len(os.Args) < 2 {
		fmt.Fprintln(os.Stderr, "usage: gobench <workload> [--workers N] [--size S]")
		os.Exit(2)
	}
	workload := os.Args[1]
	fs := flag.NewFlagSet("gobench", flag.ExitOnError)
	workers := fs.Int("workers", 0, "GOMAXPROCS; 0 = Go's default")
	size := fs.Int64("size", 0, "workload size; 0 = DESIGN's")
	fs.Parse(os.Args[2:])
	if *workers > 0 {
		runtime.GOMAXPROCS(*workers)
	}
	n := *size
	if n == 0 {
		n = defaultSize(workload)
	}
	switch workload {
	case "spawn":
		spawn(n, "spawn")
	case "spawn-wg":
		spawn(n, "spawn-wg")
	case "skynet":
		skynetMain(n)
	case "pingpong":
		pingpong(n)
	case "mpmc":
		mpmc(n)
	case "select":
		selectWl(n)
	case "yield":
		yieldWl(n)
	case "parked":
		parked(n)
	case "starve":
		starve(n)
	case "stuck":
		stuck(n)
	case "timers":
		timers(n, false)
	case "timers-mem":
		timers(n, true)
	case "timers-churn":
		timersChurn(n)
	case "echo":
		serve(echoConn)
	case "http":
		serve(httpConn)
	default:
		fmt.Fprintln(os.Stderr, "unknown workload", workload)
		os.Exit(2)
	}
}

// spawn serves both spawn and spawn-wg: goroutines have no join handle, so Go's spawn is
// always detached goroutines and a sync.WaitGroup.
func spawn(n int64, workload string) {
	var counter int64
	var wg sync.WaitGroup
	t0 := time.Now()
	wg.Add(int(n))
	for i := int64(0); i < n; i++ {
		go func() {
			atomic.AddInt64(&counter, 1)
			wg.Done()
		}()
	}
	wg.Wait()
	dt := time.Since(t0)
	check(atomic.LoadInt64(&counter) == n, "spawn count")
	note("joined with a sync.WaitGroup (goroutines have no join handle)")
	reportNsPer(workload, "ns/task", dt, n)
}

func skynet(c chan<- int64, num, size int64) {
	if size == 1 {
		c <- num
		return
	}
	rc := make(chan int64)
	step := size / skynetFanout
	for i := int64(0); i < skynetFanout; i++ {
		go skynet(rc, num+i*step, step)
	}
	var sum int64
	for i := 0; i < skynetFanout; i++ {
		sum += <-rc
	}
	c <- sum
}

func skynetMain(leaves int64) {
	t0 := time.Now()
	c := make(chan int64)
	go skynet(c, 0, leaves)
	sum := <-c
	dt := time.Since(t0)
	check(sum == leaves*(leaves-1)/2, "skynet sum")
	report("skynet", "ms", float64(dt.Nanoseconds())/1e6)
}

func pingpong(n int64) {
	ping, pong := make(chan int64), make(chan int64)
	go func() {
		for v := range ping {
			pong <- v
		}
	}()
	t0 := time.Now()
	for i := int64(0); i < n; i++ {
		ping <- i
		check(<-pong == i, "pingpong echo")
	}
	dt := time.Since(t0)
	close(ping)
	reportNsPer("pingpong", "ns/roundtrip", dt, n)
}

func mpmc(n int64) {
	c := make(chan int64, mpmcCap)
	per := n / mpmcSides
	var got int64
	var prod, cons sync.WaitGroup
	t0 := time.Now()
	prod.Add(mpmcSides)
	for p := 0; p < mpmcSides; p++ {
		go func() {
			for i := int64(0); i < per; i++ {
				c <- i
			}
			prod.Done()
		}()
	}
	cons.Add(mpmcSides)
	for q := 0; q < mpmcSides; q++ {
		go func() {
			var k int64
			for range c {
				k++
			}
			atomic.AddInt64(&got, k)
			cons.Done()
		}()
	}
	prod.Wait()
	close(c)
	cons.Wait()
	dt := time.Since(t0)
	check(got == per*mpmcSides, "mpmc count")
	reportNsPer("mpmc", "ns/msg", dt, got)
}

func selectWl(n int64) {
	per := n / selectArms
	var cs [selectArms]chan int64
	for k := range cs {
		cs[k] = make(chan int64)
		go func(c chan<- int64) {
			for i := int64(0); i < per; i++ {
				c <- i
			}
		}(cs[k])
	}
	total := per * selectArms
	t0 := time.Now()
	var got int64
	for got < total {
		select {
		case <-cs[0]:
		case <-cs[1]:
		case <-cs[2]:
		case <-cs[3]:
		}
		got++
	}
	reportNsPer("select", "ns/select", time.Since(t0), got)
}

func yieldWl(perTask int64) {
	var wg sync.WaitGroup
	t0 := time.Now()
	wg.Add(yieldTasks)
	for t := 0; t < yieldTasks; t++ {
		go func() {
			for i := int64(0); i < perTask; i++ {
				runtime.Gosched()
			}
			wg.Done()
		}()
	}
	wg.Wait()
	reportNsPer("yield", "ns/yield", time.Since(t0), perTask*yieldTasks)
}

func residentBytes() int64 {
	b, _ := os.ReadFile("/proc/self/status")
	for _, l := range strings.Split(string(b), "\n") {
		if strings.HasPrefix(l, "VmRSS:") {
			f := strings.Fields(l)
			kb, _ := strconv.ParseInt(f[1], 10, 64)
			return kb * 1024
		}
	}
	return 0
}

func parked(n int64) {
	c := make(chan struct{})
	var ready int64
	var wg sync.WaitGroup
	before := residentBytes()
	wg.Add(int(n))
	for i := int64(0); i < n; i++ {
		go func() {
			atomic.AddInt64(&ready, 1)
			<-c
			wg.Done()
		}()
	}
	for atomic.LoadInt64(&ready) < n {
		time.Sleep(time.Millisecond)
	}
	time.Sleep(100 * time.Millisecond)
	after := residentBytes()
	close(c)
	wg.Wait()
	report("parked", "bytes/task", float64(after-before)/float64(n))
}

// timers and timers-mem: a consumer selects n times between a channel a producer feeds and a
// fresh time.After(time.Hour); every timer is set and abandoned unfired. Reports the time per
// iteration, or (mem) the growth of resident memory over the loop.
func timers(n int64, mem bool) {
	c := make(chan int64, timersCap)
	go func() {
		for i := int64(0); i < n; i++ {
			c <- i
		}
	}()
	if mem && !goTimersCollected() {
		note("before Go 1.23 a time.After timer stays in the runtime's heap until it fires (an hour here), with its channel")
	}
	before := residentBytes()
	t0 := time.Now()
	var sum int64
	for i := int64(0); i < n; i++ {
		select {
		case v := <-c:
			sum += v
		case <-time.After(time.Hour):
			panic("an hour passed")
		}
	}
	dt := time.Since(t0)
	after := residentBytes()
	check(sum == n*(n-1)/2, "timers sum")
	if mem {
		report("timers-mem", "bytes", float64(after-before))
	} else {
		reportNsPer("timers", "ns/timer", dt, n)
	}
}

// goTimersCollected reports whether this Go (1.23 or later) frees unreferenced timers.
func goTimersCollected() bool {
	v := strings.TrimPrefix(runtime.Version(), "go1.")
	minor, err := strconv.Atoi(strings.SplitN(v, ".", 2)[0])
	return err == nil && minor >= 23
}

// timers-churn: timersLive goroutines each select between a quit channel and a fresh
// time.After(time.Millisecond) until n timers have fired in all. Reports wall time per timer.
func timersChurn(n int64) {
	per := n / timersLive
	if per < 1 {
		per = 1
	}
	quit := make(chan struct{})
	var fired int64
	var wg sync.WaitGroup
	t0 := time.Now()
	wg.Add(timersLive)
	for t := 0; t < timersLive; t++ {
		go func() {
			defer wg.Done()
			for i := int64(0); i < per; i++ {
				select {
				case <-quit:
					return
				case <-time.After(time.Millisecond):
					atomic.AddInt64(&fired, 1)
				}
			}
		}()
	}
	wg.Wait()
	dt := time.Since(t0)
	check(fired == per*timersLive, "timers fired")
	reportNsPer("timers-churn", "ns/timer", dt, per*timersLive)
}

//go:noinline
func spinIters(iters int64) int64 {
	var x int64
	for i := int64(0); i < iters; i++ {
		x = x*6364136223846793005 + i
	}
	return x
}

var sink int64

// spinSink keeps the spinners' results alive; they add to it atomically.
var spinSink int64

func starve(spinMs int64) {
	// Calibrate the call-free loop on this goroutine before the two contenders start.
	probe := int64(20_000_000)
	t0 := time.Now()
	sink += spinIters(probe)
	perIter := float64(time.Since(t0).Nanoseconds()) / float64(probe)
	iters := int64(float64(spinMs) * 1e6 / perIter)

	var sleeping int32
	var worst time.Duration
	done := make(chan struct{})
	go func() {
		atomic.StoreInt32(&sleeping, 1)
		for i := 0; i < starveSleeps; i++ {
			t := time.Now()
			time.Sleep(time.Millisecond)
			if over := time.Since(t) - time.Millisecond; over > worst {
				worst = over
			}
		}
		close(done)
	}()
	spun := make(chan int64)
	go func() {
		for atomic.LoadInt32(&sleeping) == 0 {
			runtime.Gosched()
		}
		spun <- spinIters(iters)
	}()
	sink += <-spun
	<-done
	note(fmt.Sprintf("spinner runs ~%d ms with no calls; a figure near it means the sleeper never woke while it ran", spinMs))
	report("starve", "ms", float64(worst.Nanoseconds())/1e6)
}

func neverRan(s string) {
	fmt.Fprintf(out, "NEVERRAN %s\n", s)
	out.Flush()
}

// spinUntil loops with no calls (the atomic load is an intrinsic) until *stop is set: only
// asynchronous preemption can take the P away from it.
//
//go:noinline
func spinUntil(stop *int32) int64 {
	var x int64
	for atomic.LoadInt32(stop) == 0 {
		x = x*6364136223846793005 + 1
	}
	return x
}

// stuck: every P held by a goroutine spinning with no calls; then a fresh goroutine sleeps 1 ms
// twenty times. Go has no plain threads, so the fresh goroutine is spawned from the main
// goroutine, which gets a P back through asynchronous preemption. Reports the worse of its
// start delay and its wake-up lateness.
func stuck(deadlineMs int64) {
	workers := runtime.GOMAXPROCS(0)
	var stop, holding int32
	for i := 0; i < workers; i++ {
		go func() {
			atomic.AddInt32(&holding, 1)
			atomic.AddInt64(&spinSink, spinUntil(&stop))
		}()
	}
	limit := time.Duration(deadlineMs) * time.Millisecond
	t0 := time.Now()
	for atomic.LoadInt32(&holding) < int32(workers) {
		if time.Since(t0) > limit {
			atomic.StoreInt32(&stop, 1)
			neverRan(fmt.Sprintf("only %d of %d spinners started within %d ms", atomic.LoadInt32(&holding), workers, deadlineMs))
			return
		}
		time.Sleep(200 * time.Microsecond)
	}
	note("spawned from the main goroutine (Go has no plain threads)")
	type timing struct{ start, late time.Duration }
	res := make(chan timing, 1)
	var started int32
	tSpawn := time.Now()
	go func() {
		start := time.Since(tSpawn)
		atomic.StoreInt32(&started, 1)
		var late time.Duration
		for i := 0; i < starveSleeps; i++ {
			t := time.Now()
			time.Sleep(time.Millisecond)
			if over := time.Since(t) - time.Millisecond; over > late {
				late = over
			}
		}
		res <- timing{start, late}
	}()
	select {
	case r := <-res:
		atomic.StoreInt32(&stop, 1)
		note(fmt.Sprintf("start delay %.2f ms, worst wake-up lateness %.2f ms", float64(r.start.Nanoseconds())/1e6, float64(r.late.Nanoseconds())/1e6))
		worst := r.start
		if r.late > worst {
			worst = r.late
		}
		report("stuck", "ms", float64(worst.Nanoseconds())/1e6)
	case <-time.After(limit - time.Since(tSpawn)):
		what := "had not started"
		if atomic.LoadInt32(&started) != 0 {
			what = "had started but not finished its sleeps"
		}
		atomic.StoreInt32(&stop, 1)
		neverRan(fmt.Sprintf("the fresh goroutine %s %d ms after its spawn, while the spinners held every P", what, deadlineMs))
	}
}

func echoConn(c net.Conn) {
	defer c.Close()
	c.(*net.TCPConn).SetNoDelay(true)
	buf := make([]byte, 4096)
	for {
		k, err := c.Read(buf)
		if k > 0 {
			if _, werr := c.Write(buf[:k]); werr != nil {
				return
			}
		}
		if err != nil {
			return
		}
	}
}

// httpConn answers every complete request head with the fixed response, as the Rust servers
// do: the same minimal parsing everywhere, so the runtimes are compared, not HTTP libraries.
func httpConn(c net.Conn) {
	defer c.Close()
	c.(*net.TCPConn).SetNoDelay(true)
	buf := make([]byte, 4096)
	var in, resp []byte
	sep := []byte("\r\n\r\n")
	for {
		k, err := c.Read(buf)
		if k > 0 {
			in = append(in, buf[:k]...)
			start := 0
			for {
				i := bytes.Index(in[start:], sep)
				if i < 0 {
					break
				}
				start += i + 4
				resp = append(resp, httpResponse...)
			}
			in = append(in[:0], in[start:]...)
			if len(resp) > 0 {
				if _, werr := c.Write(resp); werr != nil {
					return
				}
				resp = resp[:0]
			}
		}
		if err != nil {
			return
		}
	}
}

func serve(conn func(net.Conn)) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	fmt.Fprintf(out, "LISTENING %d\n", l.Addr().(*net.TCPAddr).Port)
	out.Flush()
	for {
		c, err := l.Accept()
		if err != nil {
			continue
		}
		go conn(c)
	}
}
