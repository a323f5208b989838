; nvmx probe, 64-bit core: enters VMX operation, reports the CPU's VMX capabilities and CPUID facts, then runs
; every state record of the blob as a real VMLAUNCH/VMRESUME and prints one result line per state.
;
; Entered in 64-bit mode at CORE_BASE (identity paging, interrupts off) by stage2.asm (BIOS) or uefi.asm (UEFI),
; with the blob at BLOB_BASE and its address/size written into this file's header. Output: port 0xE9 and/or
; COM1, as the blob header asks. The log format is parsed by src/probe/log.ts and documented in docs/probe.md.
;
; nasm -f bin core.asm -o core.bin

bits 64
%include "layout.inc"
org CORE_BASE

; ---- fixed addresses in the core's region (.bss-like, zeroed at start)
BSS_BASE    equ CORE_BASE + 0x40000
PML4        equ BSS_BASE + 0x0000
PDPT        equ BSS_BASE + 0x1000
PD0         equ BSS_BASE + 0x2000       ; 4 page directories: 0-4 GiB in 2 MiB pages
IDT         equ BSS_BASE + 0x6000
TSS         equ BSS_BASE + 0x7000
VMXON_REG   equ BSS_BASE + 0x8000
VMCS_REG    equ BSS_BASE + 0x9000
UNSUP       equ BSS_BASE + 0xA000       ; one byte per field of the blob's table: 1 = VMWRITE refused
PDPT32      equ BSS_BASE + 0xB000       ; PAE page-directory-pointer table of the 32-bit host mode
AP_IDT      equ BSS_BASE + 0xC000       ; the helper CPU's 32-bit IDT
LSTACK_TOP  equ BSS_BASE + 0xE000       ; the launcher guest's stack
AP_STACK_TOP equ BSS_BASE + 0xF000      ; the helper CPU's stack
EVENTS      equ BSS_BASE + 0xF000       ; VMWRITE refusals met in 32-bit mode: (encoding, error) pairs
MAX_EVENTS  equ 512
STACK_TOP   equ BSS_BASE + 0x20000      ; the probe's (host) stack
BSS_END     equ BSS_BASE + 0x20000
TRAMPOLINE  equ 0x9000                  ; the helper CPU starts here (SIPI vector 09H)
WAKE_VECTOR equ 0x40                    ; IPI that wakes the helper CPU

; ---- the probe's own state (the host state of every state it runs; read by src/probe/core.ts from the header)
PROBE_CR0   equ 0x80010033              ; PG WP NE ET MP PE
PROBE_CR4   equ 0x00002020              ; VMXE PAE
PROBE_EFER  equ 0x00000500              ; LMA LME
PROBE_PAT   equ 0x0007040600070406      ; the power-on default
SEL_CS      equ 0x08
SEL_DS      equ 0x10
SEL_TR      equ 0x18
SEL_CS32    equ 0x28

; ---- blob layout (src/probe/blob.ts writes it)
B_MAGIC     equ 0
B_VERSION   equ 8
B_FLAGS     equ 12
B_COUNT     equ 16
B_START     equ 20
B_NFIELDS   equ 24
B_FIELDTAB  equ 28
B_RECORDS   equ 32
B_SIZE      equ 36
FL_E9       equ 1
FL_COM1     equ 2
FL_BOCHS_OFF equ 4
FL_QEMU_OFF equ 8
; record
R_SIZE      equ 0
R_INDEX     equ 4
R_FLAGS     equ 8
R_NMEM      equ 12
R_NCLEAR    equ 16
R_BITMAP    equ 20
RF_RESUME   equ 1                       ; VMRESUME (else VMLAUNCH)
RF_LAUNCHED equ 2                       ; launch state "launched": the probe's own guest is launched first
RF_NOCURRENT equ 4                      ; no current VMCS (VMCLEAR after the writes)
RF_SHADOW   equ 8                       ; the VMCS is a shadow VMCS (revision bit 31)
RF_HOST32   equ 16                      ; run from 32-bit protected mode with PAE paging (processor.ia32e = false)
RF_SIPI     equ 32                      ; wait-for-SIPI guest: the helper CPU stops it with a SIPI

; ---- VMCS encodings the probe itself uses
V_INSN_ERR  equ 0x4400
V_EXIT_REASON equ 0x4402
V_EXIT_QUAL equ 0x6400

header:
    jmp entry64
    align 16, db 0
    db "NVMXCORE"                       ; 16
    dd 1                                ; 24: header version
hdr_boot_kind: dd 0                     ; 28
hdr_blob_addr: dq 0                     ; 32
hdr_blob_size: dq 0                     ; 40
    dq PROBE_CR0                        ; 48
    dq PML4                             ; 56: CR3
    dq PROBE_CR4                        ; 64
    dq PROBE_EFER                       ; 72
    dq PROBE_PAT                        ; 80
    dq gdt                              ; 88: GDTR base
    dq IDT                              ; 96: IDTR base
    dq TSS                              ; 104: TR base
    dq vm_exit                          ; 112: host RIP
    dq STACK_TOP                        ; 120: host RSP
    dw SEL_CS, SEL_DS, SEL_DS, SEL_DS, SEL_DS, SEL_DS, SEL_TR, 0   ; 128: CS SS DS ES FS GS TR
    dq VMCS_REG                         ; 144
    dq VMXON_REG                        ; 152
    dq WINDOW_BASE                      ; 160
    dq WINDOW_SIZE                      ; 168
    dq BLOB_BASE                        ; 176
    dq BLOB_MAX                         ; 184
    dq CORE_BASE                        ; 192
    dq PDPT32                           ; 200: CR3 of the 32-bit host mode
    dq vm_exit32                        ; 208: host RIP of the 32-bit host mode
    dw SEL_CS32, 0, 0, 0                ; 216: its CS

; ---- GDT: null, 64-bit code, data, 64-bit TSS (16 bytes)
    align 16, db 0
gdt:
    dq 0
    dq 0x00af9b000000ffff
    dq 0x00cf93000000ffff
    dw 0x67, (TSS & 0xffff)
    db ((TSS >> 16) & 0xff), 0x89, 0x00, ((TSS >> 24) & 0xff)
    dd (TSS >> 32), 0
    dq 0x00cf9b000000ffff               ; 0x28: 32-bit code
gdt_end:
gdtr:
    dw gdt_end - gdt - 1
    dq gdt
idtr:
    dw 256 * 16 - 1
    dq IDT
null_idtr:
    dw 0
    dq 0
ap_idtr:
    dw 256 * 8 - 1
    dd AP_IDT

; ---- variables
    align 8, db 0
flags:      dq 0            ; blob output flags
blob:       dq 0
guard_rip:  dq 0            ; an instruction allowed to fault (RDMSR/WRMSR/VMXON probes)
guard_fix:  dq 0            ; where to continue when it does
cur_rec:    dq 0            ; the record being run
cur_idx:    dq -1           ; its state index
rec_left:   dq 0
ran:        dq 0
phase:      dq 0            ; 1: the launcher guest is running, 2: the state's guest
in_exc:     dq 0
revision:   dq 0
msr_basic:  dq 0
msr_pin:    dq 0
msr_proc:   dq 0
msr_exit:   dq 0
msr_entry:  dq 0
msr_proc2:  dq 0
cr0_fixed0: dq 0
cr0_fixed1: dq 0
cr4_fixed0: dq 0
cr4_fixed1: dq 0
cpuid1_ecx: dq 0
cpuid7_edx: dq 0
maxleaf:    dq 0
maxsub7:    dq 0
; the helper CPU (second logical processor) that stops wait-for-SIPI guests
lapic_base: dq 0xfee00000
x2apic:     dq 0
bsp_apic_id: dq 0
ap_claim:   dq 0
ap_alive:   dq 0
sipi_req:   dq 0            ; incremented when a wait-for-SIPI state starts
sipi_done:  dq 0            ; set to sipi_req when it ends
sipis_sent: dq 0
; results of the 32-bit host mode, printed back in 64-bit mode
res_kind:   dq 0            ; 1 VMfailInvalid, 2 VMfailValid, 3 exit, 4 launcher VMfail, 5 launcher exit, 6 VMXON failed
res_a:      dq 0
res_b:      dq 0
ev_count:   dq 0
written32:  dq 0            ; 1: the state's fields were written in 64-bit mode
probe_cr0:  dq 0            ; CR0 and CR4 in VMX operation, restored after every VM exit (a state may keep its
probe_cr4:  dq 0            ; own host CR0/CR4 fields when they are what it is about)

; ============================================================================ entry
entry64:
    cli
    cld
    mov rsp, STACK_TOP
    ; zero the core's scratch region
    mov rdi, BSS_BASE
    mov rcx, (BSS_END - BSS_BASE) / 8
    xor eax, eax
    rep stosq
    ; the relocation window starts zeroed (UEFI memory is not)
    mov rdi, WINDOW_BASE
    mov rcx, WINDOW_SIZE / 8
    rep stosq
    ; page tables: 4 GiB identity-mapped with 2 MiB pages
    mov qword [PML4], PDPT | 3
    mov rdi, PDPT
    mov rax, PD0 | 3
    mov ecx, 4
.pdpt:
    mov [rdi], rax
    add rax, 0x1000
    add rdi, 8
    loop .pdpt
    mov rdi, PD0
    mov eax, 0x83               ; present, writable, 2 MiB
    mov ecx, 2048
.pd:
    mov [rdi], rax
    add rax, 0x200000
    add rdi, 8
    loop .pd
    ; the 32-bit host mode's PAE PDPT: the same four page directories
    mov rdi, PDPT32
    mov rax, PD0 | 1
    mov ecx, 4
.pdpt32:
    mov [rdi], rax
    add rax, 0x1000
    add rdi, 8
    loop .pdpt32
    mov rax, PML4
    mov cr3, rax
    lgdt [gdtr]
    call reload_segments
    call build_idt
    lidt [idtr]
    ; TSS: I/O map base beyond the limit
    mov word [TSS + 102], 104
    mov ax, SEL_TR
    ltr ax
    mov rax, PROBE_CR0
    mov cr0, rax
    mov rax, PROBE_CR4 & ~0x2000
    mov cr4, rax
    mov ecx, 0xc0000080
    mov eax, PROBE_EFER & 0xffff
    xor edx, edx
    wrmsr
    mov ecx, 0x277
    mov eax, PROBE_PAT & 0xffffffff
    mov edx, PROBE_PAT >> 32
    wrmsr
    ; mask the legacy PICs
    mov al, 0xff
    out 0x21, al
    out 0xa1, al
    ; the blob
    mov rax, [hdr_blob_addr]
    mov [blob], rax
    mov rbx, rax
    mov rax, 'NVMXSTAT'
    cmp [rbx + B_MAGIC], rax
    jne .noblob
    mov eax, [rbx + B_FLAGS]
    mov [flags], rax
    jmp .flags_ok
.noblob:
    mov qword [flags], FL_E9 | FL_COM1
    mov qword [blob], 0
.flags_ok:
    test qword [flags], FL_COM1
    jz .nocom
    call com1_init
.nocom:
    call newline                ; a console may hold a firmware's unfinished line
    lea rsi, [s_banner]
    call puts
    mov eax, [hdr_boot_kind]
    lea rsi, [s_bios]
    cmp eax, 1
    je .kind
    lea rsi, [s_uefi]
.kind:
    call puts
    call newline
    cmp qword [blob], 0
    jne .blob_ok
    lea rsi, [s_noblob]
    call puts
    call newline
.blob_ok:
    call report_cpuid
    ; VMX present?
    test qword [cpuid1_ecx], 1 << 5
    jnz .has_vmx
    lea rsi, [s_novmx_cpuid]
    jmp novmx
.has_vmx:
    call enable_vmx
    jc novmx                    ; rsi = reason
    call report_host
    call start_ap
    cmp qword [blob], 0
    je finish
    call scan_fields
    jmp run_states

; rsi = reason
novmx:
    push rsi
    lea rsi, [s_novmx]
    call puts
    pop rsi
    call puts
    call newline
    jmp finish

finish:
    lea rsi, [s_done]
    call puts
    mov rax, [ran]
    call put_hex
    call newline
    test qword [flags], FL_BOCHS_OFF
    jz .q
    mov dx, 0x8900
    lea rsi, [s_shutdown]
.sd:
    lodsb
    test al, al
    jz .q
    out dx, al
    jmp .sd
.q:
    test qword [flags], FL_QEMU_OFF
    jz .halt
    mov dx, 0xf4
    xor eax, eax
    out dx, al
.halt:
    cli
    hlt
    jmp .halt

reload_segments:
    mov ax, SEL_DS
    mov ds, ax
    mov es, ax
    mov ss, ax
    mov fs, ax
    mov gs, ax
    pop rax
    push SEL_CS
    push rax
    o64 retf

; ============================================================================ capabilities
; CPUID leaf eax, subleaf ecx: print "CPUID leaf sub eax ebx ecx edx"; returns the registers
cpuid_line:
    push rax
    push rcx
    lea rsi, [s_cpuid]
    call puts
    pop rcx
    pop rax
    push rax
    push rcx
    call put_hex
    call space
    mov rax, [rsp]
    call put_hex
    pop rcx
    pop rax
    cpuid
    push rdx
    push rcx
    push rbx
    push rax
    call space
    mov eax, [rsp]
    call put_hex
    call space
    mov eax, [rsp + 8]
    call put_hex
    call space
    mov eax, [rsp + 16]
    call put_hex
    call space
    mov eax, [rsp + 24]
    call put_hex
    call newline
    pop rax
    pop rbx
    pop rcx
    pop rdx
    ret

report_cpuid:
    xor eax, eax
    xor ecx, ecx
    call cpuid_line
    mov [maxleaf], rax
    mov eax, 1
    xor ecx, ecx
    call cpuid_line
    mov [cpuid1_ecx], rcx
    mov r12, 6
    xor r13, r13
    call .leaf
    mov r12, 7
    xor r13, r13
    cmp qword [maxleaf], 7
    jb .no7
    mov eax, 7
    xor ecx, ecx
    call cpuid_line
    mov [maxsub7], rax
    mov [cpuid7_edx], rdx
    mov eax, 7                  ; subleaf 1 even when EAX (the last subleaf) is 0: it then reads as zeros
    mov ecx, 1
    call cpuid_line
.no7:
    mov r12, 0xa
    xor r13, r13
    call .leaf
    mov r12, 0xd
    xor r13, r13
    call .leaf
    mov r12, 0xd
    mov r13, 1
    call .leaf
    mov r12, 0x14
    xor r13, r13
    call .leaf
    mov r12, 0x19
    xor r13, r13
    call .leaf
    mov eax, 0x80000000
    xor ecx, ecx
    call cpuid_line
    mov r14, rax
    mov eax, 0x80000001
    cmp r14, rax
    jb .ret
    xor ecx, ecx
    call cpuid_line
    mov eax, 0x80000008
    cmp r14, rax
    jb .ret
    xor ecx, ecx
    call cpuid_line
.ret:
    ret
.leaf:                          ; r12 = leaf, r13 = subleaf, if the leaf exists
    cmp r12, [maxleaf]
    ja .skip
    mov rax, r12
    mov rcx, r13
    call cpuid_line
.skip:
    ret

; rdmsr_safe: ecx = index -> CF=0, rax = value; CF=1 when RDMSR faults
rdmsr_safe:
    lea rax, [.insn]
    mov [guard_rip], rax
    lea rax, [.fault]
    mov [guard_fix], rax
.insn:
    rdmsr
    mov qword [guard_rip], 0
    shl rdx, 32
    mov eax, eax
    or rax, rdx
    clc
    ret
.fault:
    stc
    ret

; wrmsr_safe: ecx = index, rax = value -> CF=1 when WRMSR faults
wrmsr_safe:
    mov rdx, rax
    shr rdx, 32
    lea r8, [.insn]
    mov [guard_rip], r8
    lea r8, [.fault]
    mov [guard_fix], r8
.insn:
    wrmsr
    mov qword [guard_rip], 0
    clc
    ret
.fault:
    stc
    ret

; print "MSR index value" or "MSR index GP"; ecx = index -> CF, rax as rdmsr_safe
msr_line:
    push rcx
    lea rsi, [s_msr]
    call puts
    mov eax, [rsp]
    call put_hex
    call space
    pop rcx
    call rdmsr_safe
    jc .gp
    push rax
    call put_hex
    call newline
    pop rax
    clc
    ret
.gp:
    lea rsi, [s_gp]
    call puts
    call newline
    stc
    ret

; Enable VMX: feature control, capability MSRs, CR0/CR4 fixed bits, VMXON. CF=1 with rsi = reason on failure.
enable_vmx:
    mov ecx, 0x3a
    call msr_line
    jnc .fc
    xor eax, eax                ; no IA32_FEATURE_CONTROL: nothing locks VMX
    jmp .fc_unlocked
.fc:
    test eax, 1
    jnz .fc_locked
.fc_unlocked:
    or eax, 5                   ; lock, VMX outside SMX
    mov ecx, 0x3a
    call wrmsr_safe
    jmp .caps
.fc_locked:
    test eax, 4
    jnz .caps
    lea rsi, [s_novmx_fc]
    stc
    ret
.caps:
    mov ecx, 0x480
    call msr_line
    jc .capfail
    mov [msr_basic], rax
    mov ecx, 0x481
    call msr_line
    mov [msr_pin], rax
    mov ecx, 0x482
    call msr_line
    mov [msr_proc], rax
    mov ecx, 0x483
    call msr_line
    mov [msr_exit], rax
    mov ecx, 0x484
    call msr_line
    mov [msr_entry], rax
    mov ecx, 0x485
    call msr_line
    mov ecx, 0x486
    call msr_line
    mov [cr0_fixed0], rax
    mov ecx, 0x487
    call msr_line
    mov [cr0_fixed1], rax
    mov ecx, 0x488
    call msr_line
    mov [cr4_fixed0], rax
    mov ecx, 0x489
    call msr_line
    mov [cr4_fixed1], rax
    mov ecx, 0x48a
    call msr_line
    ; secondary controls: PROCBASED_CTLS allowed-1 bit 31
    bt qword [msr_proc], 63
    jnc .no2
    mov ecx, 0x48b
    call msr_line
    mov [msr_proc2], rax
    ; EPT/VPID capabilities when EPT (1) or VPID (5) may be 1
    mov rax, [msr_proc2]
    shr rax, 32
    test eax, (1 << 1) | (1 << 5)
    jz .noept
    mov ecx, 0x48c
    call msr_line
.noept:
    ; VM functions: secondary bit 13
    bt qword [msr_proc2], 32 + 13
    jnc .no2
    mov ecx, 0x491
    call msr_line
.no2:
    ; TRUE controls: BASIC[55]
    bt qword [msr_basic], 55
    jnc .notrue
    mov ecx, 0x48d
    call msr_line
    mov [msr_pin], rax
    mov ecx, 0x48e
    call msr_line
    mov [msr_proc], rax
    mov ecx, 0x48f
    call msr_line
    mov [msr_exit], rax
    mov ecx, 0x490
    call msr_line
    mov [msr_entry], rax
.notrue:
    ; tertiary controls: PROCBASED_CTLS allowed-1 bit 17 (bit 49 of the MSR)
    bt qword [msr_proc], 49
    jnc .no3
    mov ecx, 0x492
    call msr_line
.no3:
    ; secondary exit controls: EXIT_CTLS allowed-1 bit 31
    bt qword [msr_exit], 63
    jnc .noexit2
    mov ecx, 0x493
    call msr_line
.noexit2:
    ; other MSRs nvmx profiles use: IA32_PERF_CAPABILITIES (CPUID.1:ECX.PDCM), IA32_ARCH_CAPABILITIES (CPUID.7.0:EDX[29])
    test qword [cpuid1_ecx], 1 << 15
    jz .nopdcm
    mov ecx, 0x345
    call msr_line
.nopdcm:
    bt qword [cpuid7_edx], 29
    jnc .noarch
    mov ecx, 0x10a
    call msr_line
.noarch:
    mov rax, [msr_basic]
    and eax, 0x7fffffff
    mov [revision], rax
    ; CR0/CR4 as VMX operation requires (SDM A.7, A.8)
    mov rax, cr0
    or rax, [cr0_fixed0]
    and rax, [cr0_fixed1]
    mov cr0, rax
    mov rax, PROBE_CR4
    or rax, [cr4_fixed0]
    and rax, [cr4_fixed1]
    mov cr4, rax
    ; VMXON
    mov rax, [revision]
    mov [VMXON_REG], eax
    lea rax, [.vmxon]
    mov [guard_rip], rax
    lea rax, [.vmxon_fault]
    mov [guard_fix], rax
.vmxon:
    vmxon [vmxon_ptr]
    mov qword [guard_rip], 0
    jbe .vmxon_fail
    mov rax, cr0
    mov [probe_cr0], rax
    mov rax, cr4
    mov [probe_cr4], rax
    clc
    ret
.vmxon_fault:
    lea rsi, [s_novmx_vmxon_fault]
    stc
    ret
.vmxon_fail:
    lea rsi, [s_novmx_vmxon]
    stc
    ret
.capfail:
    lea rsi, [s_novmx_basic]
    stc
    ret

vmxon_ptr:  dq VMXON_REG
vmcs_ptr:   dq VMCS_REG

report_host:
    lea rsi, [s_host]
    call puts
    mov rax, cr0
    call put_hex
    call space
    mov rax, cr3
    call put_hex
    call space
    mov rax, cr4
    call put_hex
    call space
    mov ecx, 0xc0000080
    call rdmsr_safe
    call put_hex
    call space
    mov ecx, 0x277
    call rdmsr_safe
    call put_hex
    call space
    mov rax, gdt
    call put_hex
    call space
    mov rax, IDT
    call put_hex
    call space
    mov rax, TSS
    call put_hex
    call space
    mov rax, vm_exit
    call put_hex
    call space
    mov rax, STACK_TOP
    call put_hex
    call space
    mov rax, VMCS_REG
    call put_hex
    call space
    mov rax, VMXON_REG
    call put_hex
    call newline
    ret

; a fresh, current VMCS (revision | rax's bit 31 when shadow): CF/ZF as VMPTRLD
fresh_vmcs:
    push rax
    vmclear [vmcs_ptr]
    mov rdi, VMCS_REG
    mov ecx, 512
    xor eax, eax
    rep stosq
    pop rax
    or rax, [revision]
    mov [VMCS_REG], eax
    vmptrld [vmcs_ptr]
    ret

; Which fields of the blob's table does VMWRITE accept? (VMWRITE 0 into a scratch VMCS.)
scan_fields:
    xor eax, eax
    call fresh_vmcs
    mov rbx, [blob]
    mov r12d, [rbx + B_NFIELDS]
    mov r13d, [rbx + B_FIELDTAB]
    add r13, rbx
    xor r14, r14
.l:
    cmp r14, r12
    jae .done
    mov edx, [r13 + r14 * 4]
    xor eax, eax
    vmwrite rdx, rax
    jbe .refused
    inc r14
    jmp .l
.refused:
    mov byte [UNSUP + r14], 1
    lea rsi, [s_nofield]
    call puts
    mov eax, [r13 + r14 * 4]
    call put_hex
    call newline
    inc r14
    jmp .l
.done:
    vmclear [vmcs_ptr]
    ret

; ============================================================================ states
run_states:
    mov rbx, [blob]
    lea rsi, [s_states]
    call puts
    mov eax, [rbx + B_COUNT]
    call put_hex
    call space
    mov eax, [rbx + B_START]
    call put_hex
    call newline
    mov eax, [rbx + B_RECORDS]
    add rax, rbx
    mov ecx, [rbx + B_COUNT]
    mov edx, [rbx + B_START]
    sub rcx, rdx
    jbe finish
    mov [rec_left], rcx
    ; skip the records before the start index
.skip:
    test edx, edx
    jz .first
    mov ecx, [rax + R_SIZE]
    add rax, rcx
    dec edx
    jmp .skip
.first:
    mov [cur_rec], rax
    jmp state_begin

state_next:
    mov rax, [cur_rec]
    mov ecx, [rax + R_SIZE]
    add rax, rcx
    mov [cur_rec], rax
    dec qword [rec_left]
    jz finish
state_begin:
    mov rsp, STACK_TOP
    mov qword [in_exc], 0
    mov qword [phase], 0
    mov rbx, [cur_rec]
    mov eax, [rbx + R_INDEX]
    mov [cur_idx], rax
    lea rsi, [s_start]
    call puts
    mov rax, [cur_idx]
    call put_hex
    call newline
    ; memory words (only inside the relocation window)
    call rec_parts              ; r8 = values, r9 = mem, r10 = clear
    mov rbx, [cur_rec]
    mov ecx, [rbx + R_NMEM]
    mov rsi, r9
.mem:
    test ecx, ecx
    jz .mem_done
    mov rdi, [rsi]
    mov rax, [rsi + 8]
    call window_ok
    jc .mem_bad
    mov [rdi], rax
.mem_next:
    add rsi, 16
    dec ecx
    jmp .mem
.mem_bad:
    push rcx
    push rsi
    push rdi
    lea rsi, [s_mem]
    call puts_idx
    pop rax
    call put_hex
    call newline
    pop rsi
    pop rcx
    jmp .mem_next
.mem_done:
    mov rbx, [cur_rec]
    test dword [rbx + R_FLAGS], RF_SIPI
    jz .nosipi
    call sipi_arm
.nosipi:
    mov eax, [rbx + R_FLAGS]
    and eax, RF_HOST32 | RF_LAUNCHED
    cmp eax, RF_HOST32 | RF_LAUNCHED
    je run32                    ; launched from the 32-bit host mode: everything happens there
    xor eax, eax
    test dword [rbx + R_FLAGS], RF_SHADOW
    jz .noshadow
    mov eax, 0x80000000
.noshadow:
    call fresh_vmcs
    jbe .ptrld_fail
    mov rbx, [cur_rec]
    test dword [rbx + R_FLAGS], RF_LAUNCHED
    jnz launcher
write_fields:
    call rec_parts
    mov rbx, [blob]
    mov r12d, [rbx + B_NFIELDS]
    mov r13d, [rbx + B_FIELDTAB]
    add r13, rbx
    mov rbx, [cur_rec]
    lea r15, [rbx + R_BITMAP]   ; bitmap
    mov r14, r8                 ; values
    xor ebp, ebp                ; field number
.f:
    cmp rbp, r12
    jae .f_done
    xor eax, eax
    bt [r15], rbp
    jnc .zero
    mov rax, [r14]
    add r14, 8
.zero:
    mov edx, [r13 + rbp * 4]
    cmp byte [UNSUP + rbp], 0
    jne .unsupported
    vmwrite rdx, rax
    jbe .refused
.f_next:
    inc rbp
    jmp .f
.unsupported:
    test rax, rax
    jz .f_next
    xor ecx, ecx
    call report_write
    jmp .f_next
.refused:
    mov ecx, 0xffffffff
    jc .rep
    push rdx
    mov edx, V_INSN_ERR
    vmread rcx, rdx
    pop rdx
.rep:
    call report_write
    jmp .f_next
.f_done:
    mov rbx, [cur_rec]
    test dword [rbx + R_FLAGS], RF_HOST32
    jnz run32_written           ; written in 64-bit mode (all 64 bits); launched from the 32-bit host mode
    test dword [rbx + R_FLAGS], RF_NOCURRENT
    jz .current
    vmclear [vmcs_ptr]
.current:
    mov qword [phase], 2
    mov rbx, [cur_rec]
    test dword [rbx + R_FLAGS], RF_RESUME
    jnz .resume
    vmlaunch
    jmp vm_failed
.resume:
    vmresume
vm_failed:
    mov qword [phase], 0
    jc .invalid
    jz .valid
    lea rsi, [s_r]
    call puts_idx
    lea rsi, [s_k_unknown]
    call puts
    call newline
    jmp state_done
.invalid:
    lea rsi, [s_r]
    call puts_idx
    lea rsi, [s_k_invalid]
    call puts
    call newline
    jmp state_done
.valid:
    mov edx, V_INSN_ERR
    vmread rax, rdx
    push rax
    lea rsi, [s_r]
    call puts_idx
    lea rsi, [s_k_valid]
    call puts
    pop rax
    call put_hex
    call newline
    jmp state_done

state_begin.ptrld_fail:
    lea rsi, [s_r]
    call puts_idx
    lea rsi, [s_k_ptrld]
    call puts
    call newline
    jmp state_done

; edx = encoding, ecx = VM-instruction error (0: refused at the scan, ~0: VMfailInvalid): "W idx enc err"
report_write:
    push rdx
    push rcx
    lea rsi, [s_write]
    call puts_idx
    mov eax, [rsp + 8]
    call put_hex
    call space
    mov eax, [rsp]
    call put_hex
    call newline
    pop rcx
    pop rdx
    ret

; rdi = address: CF=1 unless an aligned qword inside the relocation window
window_ok:
    test dil, 7
    jnz .bad
    cmp rdi, WINDOW_BASE
    jb .bad
    cmp rdi, WINDOW_BASE + WINDOW_SIZE - 8
    ja .bad
    clc
    ret
.bad:
    stc
    ret

; the parts of the current record: r8 = values, r9 = memory words, r10 = clear ranges
rec_parts:
    push rbx
    push rcx
    mov rbx, [blob]
    mov ecx, [rbx + B_NFIELDS]
    add ecx, 31
    shr ecx, 5                  ; bitmap words
    mov rbx, [cur_rec]
    lea r8, [rbx + R_BITMAP + rcx * 4]
    add r8, 7
    and r8, ~7                  ; values are 8-aligned
    ; count set bits
    xor eax, eax
    xor edx, edx
.pop:
    cmp edx, ecx
    jae .popd
    push rcx
    mov r11d, [rbx + R_BITMAP + rdx * 4]
    xor ecx, ecx
.bits:
    test r11d, r11d
    jz .bitsd
    lea r9d, [r11d - 1]
    and r11d, r9d
    inc ecx
    jmp .bits
.bitsd:
    add eax, ecx
    pop rcx
    inc edx
    jmp .pop
.popd:
    lea r9, [r8 + rax * 8]
    mov eax, [rbx + R_NMEM]
    shl rax, 4
    lea r10, [r9 + rax]
    pop rcx
    pop rbx
    ret

; zero what the state wrote or let the CPU write (memory words and clear ranges)
state_done:
    mov rsp, STACK_TOP
    mov rax, [sipi_req]
    mov [sipi_done], rax
    inc qword [ran]
    call rec_parts
    mov rbx, [cur_rec]
    mov ecx, [rbx + R_NMEM]
    mov rsi, r9
.m:
    test ecx, ecx
    jz .c
    mov rdi, [rsi]
    call window_ok
    jc .m_next
    mov qword [rdi], 0
.m_next:
    add rsi, 16
    dec ecx
    jmp .m
.c:
    mov r11d, [rbx + R_NCLEAR]
    mov rsi, r10
.cl:
    test r11d, r11d
    jz .cd
    mov rdi, [rsi]
    mov rcx, [rsi + 8]
    ; clamp to the window
    cmp rdi, WINDOW_BASE
    jb .cl_next
    lea rax, [rdi + rcx]
    cmp rax, WINDOW_BASE + WINDOW_SIZE
    ja .cl_next
    and rdi, ~7
    add rcx, 7
    shr rcx, 3
    xor eax, eax
    rep stosq
.cl_next:
    add rsi, 16
    dec r11d
    jmp .cl
.cd:
    jmp state_next

; ============================================================================ the launcher (launch state "launched")
; A minimal valid 64-bit guest that executes VMCALL, built from the capability MSRs; after its exit the state's
; fields are written into the same (now launched) VMCS.
%macro VMW 2
    mov edx, %1
    mov rax, %2
    vmwrite rdx, rax
%endmacro

launcher:
    mov rax, [msr_pin]
    mov eax, eax
    VMW 0x4000, rax                         ; pin-based: the must-be-1 bits
    mov rax, [msr_proc]
    mov eax, eax
    VMW 0x4002, rax
    mov rax, [msr_exit]
    mov eax, eax
    or eax, 1 << 9                          ; host address-space size
    VMW 0x400c, rax
    mov rax, [msr_entry]
    mov eax, eax
    or eax, 1 << 9                          ; IA-32e mode guest
    VMW 0x4012, rax
    VMW 0x2800, -1                          ; VMCS link pointer
    call write_host_fields
    ; guest = the probe itself
    VMW 0x6800, [probe_cr0]
    VMW 0x6802, PML4
    VMW 0x6804, [probe_cr4]
    VMW 0x681a, 0x400                       ; DR7
    VMW 0x681c, LSTACK_TOP
    VMW 0x681e, launcher_guest
    VMW 0x6820, 2                           ; RFLAGS
    VMW 0x0802, SEL_CS
    VMW 0x4802, 0xffffffff
    VMW 0x4816, 0xa09b
%macro GSEG 1
    VMW 0x0800 + 2 * %1, SEL_DS
    VMW 0x4800 + 2 * %1, 0xffffffff
    VMW 0x4814 + 2 * %1, 0xc093
%endmacro
    GSEG 0
    GSEG 2
    GSEG 3
    GSEG 4
    GSEG 5
    VMW 0x4820, 0x10000                     ; LDTR unusable
    VMW 0x080e, SEL_TR
    VMW 0x6814, TSS                         ; TR base
    VMW 0x480e, 0x67                        ; TR limit
    VMW 0x4822, 0x8b                        ; TR AR: busy 64-bit TSS
    VMW 0x680e, 0                           ; LDTR base
    VMW 0x6816, gdt                         ; GDTR base
    VMW 0x4810, gdt_end - gdt - 1
    VMW 0x6818, IDT
    VMW 0x4812, 256 * 16 - 1
    mov qword [phase], 1
    vmlaunch
    ; VM entry of the probe's own guest failed
    mov qword [phase], 0
    mov rcx, -1
    jc .r
    mov edx, V_INSN_ERR
    vmread rcx, rdx
.r:
    push rcx
    lea rsi, [s_r]
    call puts_idx
    lea rsi, [s_k_launcher]
    call puts
    pop rax
    call put_hex
    call newline
    jmp state_done

launcher_guest:
    vmcall
    ud2

launcher_exit:
    mov edx, V_EXIT_REASON
    vmread rax, rdx
    cmp eax, 18                             ; VMCALL
    je write_fields
    push rax
    lea rsi, [s_r]
    call puts_idx
    lea rsi, [s_k_launcher_exit]
    call puts
    pop rax
    call put_hex
    call newline
    jmp state_done

write_host_fields:
    VMW 0x6c00, [probe_cr0]
    VMW 0x6c02, PML4
    VMW 0x6c04, [probe_cr4]
    VMW 0x0c00, SEL_DS
    VMW 0x0c02, SEL_CS
    VMW 0x0c04, SEL_DS
    VMW 0x0c06, SEL_DS
    VMW 0x0c08, SEL_DS
    VMW 0x0c0a, SEL_DS
    VMW 0x0c0c, SEL_TR
    VMW 0x6c0a, TSS
    VMW 0x6c0c, gdt
    VMW 0x6c0e, IDT
    VMW 0x6c14, STACK_TOP
    VMW 0x6c16, vm_exit
    ret

; ============================================================================ VM exits
vm_exit:
    mov rsp, STACK_TOP
    call restore_cpu
    lgdt [gdtr]
    lidt [idtr]
    call reload_segments
    ; the probe's own MSRs again (an MSR-load list may have changed them)
    mov ecx, 0xc0000080
    mov eax, PROBE_EFER & 0xffff
    xor edx, edx
    wrmsr
    mov ecx, 0x277
    mov eax, PROBE_PAT & 0xffffffff
    mov edx, PROBE_PAT >> 32
    wrmsr
    cmp qword [phase], 1
    je launcher_exit
    mov qword [phase], 0
    lea rsi, [s_r]
    call puts_idx
    lea rsi, [s_k_exit]
    call puts
    mov edx, V_EXIT_REASON
    vmread rax, rdx
    call put_hex
    call space
    mov edx, V_EXIT_QUAL
    vmread rax, rdx
    call put_hex
    call newline
    jmp state_done

; ============================================================================ the 32-bit host mode
; A state whose processor is not in IA-32e mode (processor.ia32e = false) runs from 32-bit protected mode with PAE
; paging: VMXOFF, leave long mode, VMXON again, write the fields with 32-bit VMWRITEs (64-bit fields as their
; full and high parts), VMLAUNCH/VMRESUME; its exit handler is vm_exit32. Results are kept in res_* and printed
; after the way back to 64-bit mode. No IDT in 32-bit mode: an exception there ends the machine (the runner
; resumes at the next state).
run32_written:
    mov qword [written32], 1
    jmp run32.go
run32:
    mov qword [written32], 0
.go:
    mov qword [res_kind], 0
    mov qword [ev_count], 0
    vmclear [vmcs_ptr]
    vmxoff
    lidt [null_idtr]
    push SEL_CS32
    lea rax, [to32]
    push rax
    o64 retf

bits 32
to32:
    mov eax, cr0
    and eax, 0x7fffffff                 ; paging off: leaves IA-32e mode
    mov cr0, eax
    mov ecx, 0xc0000080
    rdmsr
    and eax, ~0x100                     ; EFER.LME = 0
    wrmsr
    mov eax, PDPT32
    mov cr3, eax
    mov eax, cr0
    or eax, 0x80000000                  ; 32-bit PAE paging
    mov cr0, eax
    jmp SEL_CS32:.pm
.pm:
    mov ax, SEL_DS
    mov ds, ax
    mov es, ax
    mov ss, ax
    mov esp, STACK_TOP
    vmxon [vmxon_ptr]
    jbe v32_vmxon_fail
    cmp dword [written32], 0
    je .fresh
    ; the fields were written in 64-bit mode and flushed to memory by VMCLEAR (SDM 25.11.3)
    vmptrld [vmcs_ptr]
    jbe v32_ptrld_fail
    jmp write_fields32.done
.fresh:
    ; a fresh VMCS
    vmclear [vmcs_ptr]
    mov edi, VMCS_REG
    mov ecx, 1024
    xor eax, eax
    rep stosd
    mov eax, [revision]
    mov ebx, [cur_rec]
    test dword [ebx + R_FLAGS], RF_SHADOW
    jz .ns
    or eax, 0x80000000
.ns:
    mov [VMCS_REG], eax
    vmptrld [vmcs_ptr]
    jbe v32_ptrld_fail
    mov ebx, [cur_rec]
    test dword [ebx + R_FLAGS], RF_LAUNCHED
    jnz launcher32
write_fields32:
    ; bitmap words -> values
    mov esi, [blob]
    mov ecx, [esi + B_NFIELDS]
    add ecx, 31
    shr ecx, 5
    mov ebx, [cur_rec]
    lea edi, [ebx + R_BITMAP + ecx * 4]
    add edi, 7
    and edi, ~7                         ; values
    xor ebp, ebp                        ; field number
.f:
    mov esi, [blob]
    cmp ebp, [esi + B_NFIELDS]
    jae .done
    mov ebx, [cur_rec]
    xor eax, eax
    xor edx, edx
    bt [ebx + R_BITMAP], ebp
    jnc .zero
    mov eax, [edi]
    mov edx, [edi + 4]
    add edi, 8
.zero:
    mov ecx, [esi + B_FIELDTAB]
    add ecx, esi
    mov ecx, [ecx + ebp * 4]            ; encoding
    cmp byte [UNSUP + ebp], 0
    jne .unsupported
    mov esi, ecx
    shr esi, 13
    and esi, 3
    cmp esi, 1
    je .w64
    cmp esi, 3
    jne .w32
    ; natural width: 32 bits only in this mode
    test edx, edx
    jz .w32
    push eax
    mov eax, 0xfffffffe                 ; error: bits 63:32 cannot be written outside 64-bit mode
    call event32
    pop eax
.w32:
    vmwrite ecx, eax
    jbe .refused
    jmp .next
.w64:
    vmwrite ecx, eax
    jbe .refused
    inc ecx
    vmwrite ecx, edx                    ; the high part (access type 1)
    jbe .refused_hi
    jmp .next
.refused_hi:
    dec ecx                             ; (keeps CF)
    jmp .refused
.unsupported:
    or eax, edx
    jz .next
    xor eax, eax
    call event32
    jmp .next
.refused:
    mov eax, 0xffffffff
    jc .ev
    mov edx, V_INSN_ERR
    vmread eax, edx
.ev:
    call event32
.next:
    inc ebp
    jmp .f
.done:
    mov ebx, [cur_rec]
    test dword [ebx + R_FLAGS], RF_NOCURRENT
    jz .cur
    vmclear [vmcs_ptr]
.cur:
    mov dword [phase], 3
    test dword [ebx + R_FLAGS], RF_RESUME
    jnz .resume
    vmlaunch
    jmp .failed
.resume:
    vmresume
.failed:
    mov dword [phase], 0
    jc .inv
    mov edx, V_INSN_ERR
    vmread eax, edx
    mov [res_a], eax
    mov dword [res_kind], 2
    jmp back64
.inv:
    mov dword [res_kind], 1
    jmp back64
v32_vmxon_fail:
    mov dword [res_kind], 6
    jmp back64_novmx
v32_ptrld_fail:
    mov dword [res_kind], 7
    jmp back64

; ecx = encoding, eax = error: note a VMWRITE refusal
event32:
    push ebx
    mov ebx, [ev_count]
    cmp ebx, MAX_EVENTS
    jae .full
    mov [EVENTS + ebx * 8], ecx
    mov [EVENTS + ebx * 8 + 4], eax
    inc dword [ev_count]
.full:
    pop ebx
    ret

%macro VMW32 2
    mov edx, %1
    mov eax, %2
    vmwrite edx, eax
%endmacro

; the probe's own 32-bit guest (VMCALL), for states whose launch state is "launched"
launcher32:
    VMW32 0x4000, [msr_pin]
    VMW32 0x4002, [msr_proc]
    VMW32 0x400c, [msr_exit]            ; host address-space size 0
    VMW32 0x4012, [msr_entry]           ; IA-32e mode guest 0
    VMW32 0x2800, 0xffffffff            ; VMCS link pointer, both halves
    VMW32 0x2801, 0xffffffff
    call host_fields32
    VMW32 0x6800, [probe_cr0]
    VMW32 0x6802, PDPT32
    VMW32 0x6804, [probe_cr4]
    VMW32 0x681a, 0x400
    VMW32 0x681c, LSTACK_TOP
    VMW32 0x681e, launcher_guest32
    VMW32 0x6820, 2
    VMW32 0x0802, SEL_CS32
    VMW32 0x4802, 0xffffffff
    VMW32 0x4816, 0xc09b
%macro GSEG32 1
    VMW32 0x0800 + 2 * %1, SEL_DS
    VMW32 0x4800 + 2 * %1, 0xffffffff
    VMW32 0x4814 + 2 * %1, 0xc093
%endmacro
    GSEG32 0
    GSEG32 2
    GSEG32 3
    GSEG32 4
    GSEG32 5
    VMW32 0x4820, 0x10000
    VMW32 0x080e, SEL_TR
    VMW32 0x6814, TSS
    VMW32 0x480e, 0x67
    VMW32 0x4822, 0x8b
    VMW32 0x6816, gdt
    VMW32 0x4810, gdt_end - gdt - 1
    VMW32 0x6818, IDT
    VMW32 0x4812, 256 * 16 - 1
    ; PAE guest without EPT: the PDPTEs come from guest CR3 at VM entry
    mov dword [phase], 4
    vmlaunch
    mov dword [phase], 0
    mov eax, 0xffffffff
    jc .r
    mov edx, V_INSN_ERR
    vmread eax, edx
.r:
    mov [res_a], eax
    mov dword [res_kind], 4
    jmp back64

launcher_guest32:
    vmcall
    ud2

host_fields32:
    VMW32 0x6c00, [probe_cr0]
    VMW32 0x6c02, PDPT32
    VMW32 0x6c04, [probe_cr4]
    VMW32 0x0c00, SEL_DS
    VMW32 0x0c02, SEL_CS32
    VMW32 0x0c04, SEL_DS
    VMW32 0x0c06, SEL_DS
    VMW32 0x0c08, SEL_DS
    VMW32 0x0c0a, SEL_DS
    VMW32 0x0c0c, SEL_TR
    VMW32 0x6c0a, TSS
    VMW32 0x6c0c, gdt
    VMW32 0x6c0e, IDT
    VMW32 0x6c14, STACK_TOP
    VMW32 0x6c16, vm_exit32
    ret

vm_exit32:
    mov esp, STACK_TOP
    mov ax, SEL_DS
    mov ds, ax
    mov es, ax
    mov ss, ax
    cmp dword [phase], 4
    je .launcher
    mov dword [phase], 0
    mov edx, V_EXIT_REASON
    vmread eax, edx
    mov [res_a], eax
    mov edx, V_EXIT_QUAL
    vmread eax, edx
    mov [res_b], eax
    mov dword [res_kind], 3
    jmp back64
.launcher:
    mov dword [phase], 0
    mov edx, V_EXIT_REASON
    vmread eax, edx
    cmp eax, 18
    je write_fields32
    mov [res_a], eax
    mov dword [res_kind], 5
    jmp back64

; back to 64-bit mode and VMX operation there
back64:
    vmclear [vmcs_ptr]
    vmxoff
back64_novmx:
    mov eax, cr0
    and eax, 0x7fffffff
    mov cr0, eax
    mov eax, [probe_cr4]                ; PAE again (a state may have kept a host CR4 without it)
    mov cr4, eax
    mov eax, PML4
    mov cr3, eax
    mov ecx, 0xc0000080
    rdmsr
    or eax, 0x100
    wrmsr
    mov eax, cr0
    or eax, 0x80000000
    mov cr0, eax
    jmp SEL_CS:from32

bits 64
from32:
    mov rsp, STACK_TOP
    call restore_cpu
    lgdt [gdtr]
    call reload_segments
    lidt [idtr]
    vmxon [vmxon_ptr]
    jbe .lost
    ; the refusals met in 32-bit mode
    xor r12, r12
.ev:
    cmp r12, [ev_count]
    jae .evd
    mov edx, [EVENTS + r12 * 8]
    mov ecx, [EVENTS + r12 * 8 + 4]
    call report_write
    inc r12
    jmp .ev
.evd:
    lea rsi, [s_r]
    call puts_idx
    mov rax, [res_kind]
    cmp rax, 1
    je .inv
    cmp rax, 2
    je .valid
    cmp rax, 3
    je .exit
    cmp rax, 4
    je .lvmfail
    cmp rax, 5
    je .lexit
    cmp rax, 7
    je .ptrld
    lea rsi, [s_k_vmxon32]
    call puts
    call newline
    jmp state_done
.inv:
    lea rsi, [s_k_invalid]
    call puts
    call newline
    jmp state_done
.valid:
    lea rsi, [s_k_valid]
    call puts
    mov rax, [res_a]
    call put_hex
    call newline
    jmp state_done
.exit:
    lea rsi, [s_k_exit]
    call puts
    mov eax, [res_a]
    call put_hex
    call space
    mov eax, [res_b]
    call put_hex
    call newline
    jmp state_done
.lvmfail:
    lea rsi, [s_k_launcher]
    call puts
    mov eax, [res_a]
    call put_hex
    call newline
    jmp state_done
.lexit:
    lea rsi, [s_k_launcher_exit]
    call puts
    mov eax, [res_a]
    call put_hex
    call newline
    jmp state_done
.ptrld:
    lea rsi, [s_k_ptrld]
    call puts
    call newline
    jmp state_done
.lost:
    lea rsi, [s_novmx_vmxon]
    jmp novmx

; ============================================================================ the helper CPU
; A guest in the wait-for-SIPI activity state is not stopped by the VMX-preemption timer (SDM 26.5.1); a SIPI
; stops it (VM exit 4). A second logical processor, started here, sends SIPIs to this one while such a state
; runs. SIPIs reach a processor that is not in wait-for-SIPI without effect, so a late one is harmless.

; value in eax, destination APIC id in edx: write the ICR
icr_write:
    cmp qword [x2apic], 0
    jne .x2
    mov rdi, [lapic_base]
    shl edx, 24
    mov [rdi + 0x310], edx
    mov [rdi + 0x300], eax
    mov ecx, 100000
.wait:
    test dword [rdi + 0x300], 1 << 12
    jz .ret
    pause
    dec ecx
    jnz .wait
.ret:
    ret
.x2:
    mov ecx, 0x830
    wrmsr
    ret

; ecx iterations of about a microsecond each
delay:
    out 0x80, al
    dec ecx
    jnz delay
    ret

start_ap:
    mov ecx, 0x1b
    call rdmsr_safe
    jc .none
    bt rax, 11                          ; APIC globally enabled
    jnc .none
    mov rdx, rax
    and rdx, ~0xfff
    mov rcx, 0x000ffffffffff000
    and rdx, rcx
    mov [lapic_base], rdx
    bt rax, 10
    setc byte [x2apic]
    cmp qword [x2apic], 0
    je .xapic
    mov ecx, 0x802
    rdmsr
    mov [bsp_apic_id], rax
    jmp .id
.xapic:
    mov rcx, 0x100000000 - 0x1000
    cmp rdx, rcx
    ja .none                            ; the helper runs in 32-bit mode: it needs the APIC below 4 GiB
    mov eax, [rdx + 0x20]
    shr eax, 24
    mov [bsp_apic_id], rax
.id:
    ; the helper's IDT: the wake-up vector and the spurious vector
    lea rax, [ap_wake]
    mov rdi, AP_IDT + WAKE_VECTOR * 8
    call .gate
    lea rax, [ap_spurious]
    mov rdi, AP_IDT + 0xff * 8
    call .gate
    ; the trampoline
    lea rsi, [trampoline]
    mov rdi, TRAMPOLINE
    mov ecx, trampoline_end - trampoline
    rep movsb
    ; INIT, SIPI, SIPI to all other processors (MP specification B.4)
    mov eax, 0x000c4500
    xor edx, edx
    call icr_write
    mov ecx, 10000
    call delay
    mov eax, 0x000c4600 | (TRAMPOLINE >> 12)
    xor edx, edx
    call icr_write
    mov ecx, 200
    call delay
    mov eax, 0x000c4600 | (TRAMPOLINE >> 12)
    xor edx, edx
    call icr_write
    mov r12d, 1000
.w:
    cmp qword [ap_alive], 0
    jne .up
    mov ecx, 100
    call delay
    dec r12d
    jnz .w
.none:
    lea rsi, [s_ap0]
    call puts
    call newline
    ret
.up:
    lea rsi, [s_ap1]
    call puts
    call newline
    ret
.gate:                                  ; rax = handler, rdi = IDT entry: 32-bit interrupt gate
    mov [rdi], ax
    mov word [rdi + 2], SEL_CS32
    mov word [rdi + 4], 0x8e00
    shr eax, 16
    mov [rdi + 6], ax
    ret

; a wait-for-SIPI state starts: wake the helper
sipi_arm:
    cmp qword [ap_alive], 0
    je .ret
    inc qword [sipi_req]
    mov eax, 0x000c4000 | WAKE_VECTOR   ; fixed, all excluding self
    xor edx, edx
    call icr_write
.ret:
    ret

bits 16
trampoline:
    cli
    xor ax, ax
    mov ds, ax
    o32 lgdt [TRAMPOLINE + (tramp_gdtr - trampoline)]
    mov eax, cr0
    or al, 1
    mov cr0, eax
    jmp dword SEL_CS32:ap32
tramp_gdtr:
    dw gdt_end - gdt - 1
    dd gdt
trampoline_end:

bits 32
ap32:
    mov ax, SEL_DS
    mov ds, ax
    mov es, ax
    mov ss, ax
    mov esp, AP_STACK_TOP
    lock bts dword [ap_claim], 0        ; one helper is enough
    jc .park
    lidt [ap_idtr]
    ; software-enable the local APIC (spurious vector FFH) so that the wake-up IPI is accepted
    mov ecx, 0x1b
    rdmsr
    bt eax, 10
    jc .x2
    mov edi, [lapic_base]
    mov dword [edi + 0xf0], 0x1ff
    jmp .on
.x2:
    mov ecx, 0x80f
    mov eax, 0x1ff
    xor edx, edx
    wrmsr
.on:
    mov dword [ap_alive], 1
.sleep:
    sti
    hlt
    cli
.check:
    mov eax, [sipi_req]
    cmp eax, [sipi_done]
    je .sleep
    mov ecx, 2000
.d:
    pause
    dec ecx
    jnz .d
    mov eax, [sipi_req]
    cmp eax, [sipi_done]
    je .sleep
    ; SIPI (vector 0) to the probe's processor
    mov eax, 0x00004600
    mov edx, [bsp_apic_id]
    cmp dword [x2apic], 0
    jne .sx2
    mov edi, [lapic_base]
    shl edx, 24
    mov [edi + 0x310], edx
    mov [edi + 0x300], eax
    jmp .sent
.sx2:
    mov ecx, 0x830
    wrmsr
.sent:
    inc dword [sipis_sent]
    jmp .check
.park:
    cli
    hlt
    jmp .park

ap_wake:
    push eax
    push ecx
    push edx
    cmp dword [x2apic], 0
    jne .x2
    mov eax, [lapic_base]
    mov dword [eax + 0xb0], 0           ; EOI
    jmp .d
.x2:
    mov ecx, 0x80b
    xor eax, eax
    xor edx, edx
    wrmsr
.d:
    pop edx
    pop ecx
    pop eax
    iretd

ap_spurious:
    iretd

bits 64
; the probe's control registers after a VM exit that loaded a state's own host CR0/CR3/CR4
restore_cpu:
    mov rax, PML4
    mov cr3, rax
    mov rax, [probe_cr4]
    mov cr4, rax
    mov rax, [probe_cr0]
    mov cr0, rax
    ret

; ============================================================================ exceptions
build_idt:
    mov rdi, IDT
    lea rsi, [exc_stubs]
    xor ecx, ecx
.l:
    mov rax, rsi
    cmp ecx, 32
    jb .stub
    lea rax, [exc_other]
.stub:
    mov [rdi], ax
    mov word [rdi + 2], SEL_CS
    mov word [rdi + 4], 0x8e00
    shr rax, 16
    mov [rdi + 6], ax
    shr rax, 16
    mov [rdi + 8], eax
    mov dword [rdi + 12], 0
    add rdi, 16
    add rsi, 16
    inc ecx
    cmp ecx, 256
    jb .l
    ret

    align 16, db 0x90
exc_stubs:
%assign v 0
%rep 32
    align 16, db 0x90
%if v == 8 || v == 10 || v == 11 || v == 12 || v == 13 || v == 14 || v == 17 || v == 21 || v == 29 || v == 30
    push v
%else
    push 0
    push v
%endif
    jmp exc_common
%assign v v + 1
%endrep

exc_other:
    iretq

; [rsp] vector, [rsp+8] error code, [rsp+16] RIP
exc_common:
    push rax
    mov rax, [rsp + 24]
    cmp rax, [guard_rip]
    jne .crash
    mov rax, [guard_fix]
    mov [rsp + 24], rax
    mov qword [guard_rip], 0
    pop rax
    add rsp, 16
    iretq
.crash:
    cmp qword [in_exc], 0
    jne triple_fault
    mov qword [in_exc], 1
    mov r12, [rsp + 8]          ; vector
    mov r13, [rsp + 16]         ; error code
    mov r14, [rsp + 24]         ; RIP
    mov rsp, STACK_TOP
    lgdt [gdtr]
    lidt [idtr]
    call reload_segments
    lea rsi, [s_exc]
    call puts_idx
    mov rax, r12
    call put_hex
    call space
    mov rax, r13
    call put_hex
    call space
    mov rax, r14
    call put_hex
    call newline
    cmp qword [cur_rec], 0
    je finish
    jmp state_done

triple_fault:
    lidt [null_idtr]
    int3
    jmp triple_fault

; ============================================================================ output
com1_init:
    mov dx, 0x3f9
    xor al, al
    out dx, al                  ; no interrupts
    mov dx, 0x3fb
    mov al, 0x80
    out dx, al                  ; DLAB
    mov dx, 0x3f8
    mov al, 1
    out dx, al                  ; 115200 baud
    mov dx, 0x3f9
    xor al, al
    out dx, al
    mov dx, 0x3fb
    mov al, 3
    out dx, al                  ; 8N1
    mov dx, 0x3fa
    mov al, 0xc7
    out dx, al                  ; FIFO
    mov dx, 0x3fc
    mov al, 3
    out dx, al
    ret

; al = character
putc:
    push rdx
    push rcx
    push rax
    test qword [flags], FL_E9
    jz .nocon
    out 0xe9, al
.nocon:
    test qword [flags], FL_COM1
    jz .ret
    mov dx, 0x3fd
    mov ecx, 100000
.wait:
    in al, dx
    test al, 0x20
    jnz .ready
    pause
    dec ecx
    jnz .wait
.ready:
    mov dx, 0x3f8
    mov al, [rsp]
    out dx, al
.ret:
    pop rax
    pop rcx
    pop rdx
    ret

; rsi = zero-terminated string
puts:
    push rax
.l:
    lodsb
    test al, al
    jz .d
    call putc
    jmp .l
.d:
    pop rax
    ret

; rsi = prefix: print "prefix idx "
puts_idx:
    call puts
    mov rax, [cur_idx]
    call put_hex
    jmp space

space:
    push rax
    mov al, ' '
    call putc
    pop rax
    ret

newline:
    push rax
    mov al, 10
    call putc
    pop rax
    ret

; rax = value: minimal hex digits
put_hex:
    push rax
    push rcx
    push rdx
    mov rdx, rax
    mov ecx, 60
.skip:
    test ecx, ecx
    jz .digits
    mov rax, rdx
    shr rax, cl
    test al, 0xf
    jnz .digits
    sub ecx, 4
    jmp .skip
.digits:
    mov rax, rdx
    shr rax, cl
    and eax, 0xf
    mov al, [hexdig + rax]
    call putc
    sub ecx, 4
    jns .digits
    pop rdx
    pop rcx
    pop rax
    ret

hexdig:             db "0123456789abcdef"
s_banner:           db "NVMX-PROBE 1 ", 0
s_bios:             db "bios", 0
s_uefi:             db "uefi", 0
s_noblob:           db "NOSTATES", 0
s_cpuid:            db "CPUID ", 0
s_msr:              db "MSR ", 0
s_gp:               db "GP", 0
s_novmx:            db "NOVMX ", 0
s_novmx_cpuid:      db "CPUID.1:ECX.VMX[bit 5] = 0: this CPU (or hypervisor) does not offer VMX", 0
s_novmx_fc:         db "IA32_FEATURE_CONTROL is locked with VMX disabled (enable VT-x in the firmware setup)", 0
s_novmx_basic:      db "IA32_VMX_BASIC cannot be read", 0
s_novmx_vmxon:      db "VMXON failed", 0
s_novmx_vmxon_fault: db "VMXON faulted", 0
s_host:             db "HOST ", 0
s_nofield:          db "NOFIELD ", 0
s_states:           db "STATES ", 0
s_start:            db "S ", 0
s_mem:              db "M ", 0
s_write:            db "W ", 0
s_r:                db "R ", 0
s_k_invalid:        db "vmfail-invalid", 0
s_k_valid:          db "vmfail-valid ", 0
s_k_exit:           db "exit ", 0
s_k_unknown:        db "vmfail-unknown", 0
s_k_ptrld:          db "vmptrld-failed", 0
s_k_launcher:       db "launcher-vmfail ", 0
s_k_launcher_exit:  db "launcher-exit ", 0
s_exc:              db "X ", 0
s_done:             db "DONE ", 0
s_k_vmxon32:        db "vmxon32-failed", 0
s_ap0:              db "HELPER 0", 0
s_ap1:              db "HELPER 1", 0
s_shutdown:         db "Shutdown", 0

core_end:
; the build (build.sh) checks that the file stays below BSS_BASE - CORE_BASE bytes
