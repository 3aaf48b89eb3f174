// goprofiles writes Go's own runtime/pprof profiles of a small workload:
// heap, allocs, mutex, block, goroutine and CPU, as a Go service's
// Pyroscope client would send them. Usage: goprofiles OUTDIR
package main

import (
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"runtime/pprof"
	"sync"
	"time"
)

var keep [][]byte

//go:noinline
func allocateBuffers(n int) {
	for i := 0; i < n; i++ {
		keep = append(keep, make([]byte, 64<<10))
	}
}

//go:noinline
func contendMutex(mu *sync.Mutex, wg *sync.WaitGroup) {
	defer wg.Done()
	for i := 0; i < 200; i++ {
		mu.Lock()
		time.Sleep(50 * time.Microsecond)
		mu.Unlock()
	}
}

//go:noinline
func waitOnChannel(ch chan int, wg *sync.WaitGroup) {
	defer wg.Done()
	<-ch
}

//go:noinline
func burnCPU(d time.Duration) int {
	x := 0
	for end := time.Now().Add(d); time.Now().Before(end); {
		for i := 0; i < 100000; i++ {
			x += i * i
		}
	}
	return x
}

func write(dir, name string) {
	f, err := os.Create(filepath.Join(dir, name+".pb.gz"))
	if err != nil {
		panic(err)
	}
	defer f.Close()
	if err := pprof.Lookup(name).WriteTo(f, 0); err != nil {
		panic(err)
	}
}

func main() {
	dir := os.Args[1]
	// Rate 1 records every allocation. Any other rate is sampled against a
	// per-P countdown drawn at start-up from the default 512 KiB rate, so the
	// first few 64 KiB buffers on each P went unrecorded whenever the
	// goroutine moved between Ps (a loaded machine): 174 of 200 in one CI run.
	runtime.MemProfileRate = 1
	runtime.SetMutexProfileFraction(1)
	runtime.SetBlockProfileRate(1)

	cpu, err := os.Create(filepath.Join(dir, "cpu.pb.gz"))
	if err != nil {
		panic(err)
	}
	if err := pprof.StartCPUProfile(cpu); err != nil {
		panic(err)
	}
	fmt.Println(burnCPU(300 * time.Millisecond))
	pprof.StopCPUProfile()
	cpu.Close()

	allocateBuffers(200)

	var mu sync.Mutex
	var wg sync.WaitGroup
	for i := 0; i < 4; i++ {
		wg.Add(1)
		go contendMutex(&mu, &wg)
	}
	wg.Wait()

	ch := make(chan int)
	var waiters sync.WaitGroup
	for i := 0; i < 8; i++ {
		waiters.Add(1)
		go waitOnChannel(ch, &waiters)
	}
	time.Sleep(20 * time.Millisecond)
	write(dir, "goroutine") // eight goroutines parked in waitOnChannel
	close(ch)
	waiters.Wait()

	runtime.GC()
	for _, name := range []string{"heap", "allocs", "mutex", "block"} {
		write(dir, name)
	}
	runtime.KeepAlive(keep)
}
