; nvmx probe, UEFI loader: the first part of the single section of BOOTX64.EFI (the PE headers are written by
; src/probe/pe.ts; the core and the states blob follow this code in the same section). Position-independent.
; It claims the probe's fixed memory (layout.inc), copies the core and the blob there, leaves boot services and
; jumps to the core, which reports on COM1 and port 0xE9 (boot services' console is gone by then).
;
; nasm -f bin uefi.asm -o uefi.bin

bits 64
default rel
%include "layout.inc"

; EFI_SYSTEM_TABLE / EFI_BOOT_SERVICES / EFI_SIMPLE_TEXT_OUTPUT_PROTOCOL offsets (UEFI 2.x, x64)
ST_CONOUT       equ 0x40
ST_BOOTSERVICES equ 0x60
BS_ALLOCATE_PAGES equ 0x28
BS_GET_MEMORY_MAP equ 0x38
BS_EXIT_BOOT_SERVICES equ 0xe8
BS_SET_WATCHDOG equ 0x100
OUT_STRING      equ 0x08
MAP_BUF         equ WINDOW_BASE     ; the memory map is read into the (already claimed) window
MAP_BUF_SIZE    equ 0x10000
TRAMPOLINE_PAGE equ 0x9000          ; core.asm TRAMPOLINE

    jmp efi_main
    align 8, db 0
; written by the image builder: offsets from the start of this code
core_off:   dd 0                    ; 8
core_size:  dd 0                    ; 12
blob_off:   dd 0                    ; 16
blob_size:  dd 0                    ; 20

    align 8, db 0
image_handle:   dq 0
bootsvc:        dq 0
conout:         dq 0
map_size:       dq 0
map_key:        dq 0
desc_size:      dq 0
desc_ver:       dq 0
alloc_addr:     dq 0

efi_main:
    push rbx
    push rbp
    push rsi
    push rdi
    push r12
    push r13
    push r14
    push r15
    mov rbp, rsp
    and rsp, -16
    sub rsp, 0x40
    mov [image_handle], rcx
    mov rax, [rdx + ST_BOOTSERVICES]
    mov [bootsvc], rax
    mov rax, [rdx + ST_CONOUT]
    mov [conout], rax
    ; no firmware watchdog: SetWatchdogTimer(0, 0, 0, NULL)
    xor ecx, ecx
    xor edx, edx
    xor r8d, r8d
    xor r9d, r9d
    mov rax, [bootsvc]
    call [rax + BS_SET_WATCHDOG]
    lea rdx, [s_banner]
    call print
    ; a CPU without VMX: say so here too (the core reports it on COM1/0xE9)
    mov eax, 1
    cpuid
    test ecx, 1 << 5
    jnz .vmx
    lea rdx, [s_novmx]
    call print
.vmx:
    ; claim the helper CPU's trampoline page, the core's region and the relocation window
    mov rcx, TRAMPOLINE_PAGE
    mov edx, 1
    call claim
    jc .nomem
    mov rcx, CORE_BASE
    mov rdx, (WINDOW_BASE + WINDOW_SIZE - CORE_BASE) / 4096
    call claim
    jc .nomem
    ; and the blob's
    mov rcx, BLOB_BASE
    mov edx, [blob_size]
    add rdx, 4095
    shr rdx, 12
    call claim
    jc .nomem
    ; copy the core and the blob
    lea rsi, [rel $$]
    mov eax, [core_off]
    add rsi, rax
    mov rdi, CORE_BASE
    mov ecx, [core_size]
    rep movsb
    lea rsi, [rel $$]
    mov eax, [blob_off]
    add rsi, rax
    mov rdi, BLOB_BASE
    mov ecx, [blob_size]
    rep movsb
    mov rdi, CORE_BASE
    mov dword [rdi + HDR_BOOT_KIND], 2
    mov qword [rdi + HDR_BLOB_ADDR], BLOB_BASE
    mov eax, [blob_size]
    mov [rdi + HDR_BLOB_SIZE], rax
    lea rdx, [s_leaving]
    call print
    ; leave boot services (retry once if the map changed in between)
    mov r15d, 3
.ebs:
    mov qword [map_size], MAP_BUF_SIZE
    lea rcx, [map_size]
    mov rdx, MAP_BUF
    lea r8, [map_key]
    lea r9, [desc_size]
    lea rax, [desc_ver]
    mov [rsp + 0x20], rax
    mov rax, [bootsvc]
    call [rax + BS_GET_MEMORY_MAP]
    mov rcx, [image_handle]
    mov rdx, [map_key]
    mov rax, [bootsvc]
    call [rax + BS_EXIT_BOOT_SERVICES]
    test rax, rax
    jz .go
    dec r15d
    jnz .ebs
    lea rdx, [s_ebs]
    call print
    jmp .fail
.go:
    cli
    mov rsp, CORE_BASE          ; below the core: the core sets up its own stack
    mov rax, CORE_BASE
    jmp rax
.nomem:
    lea rdx, [s_nomem]
    call print
.fail:
    mov rax, 0x8000000000000009 ; EFI_OUT_OF_RESOURCES
    mov rsp, rbp
    pop r15
    pop r14
    pop r13
    pop r12
    pop rdi
    pop rsi
    pop rbp
    pop rbx
    ret

; rcx = physical address, rdx = pages: AllocatePages(AllocateAddress, EfiLoaderData, pages, &addr); CF on error
claim:
    sub rsp, 8
    mov [alloc_addr], rcx
    mov r8, rdx
    mov ecx, 2                  ; AllocateAddress
    mov edx, 2                  ; EfiLoaderData
    lea r9, [alloc_addr]
    sub rsp, 0x20
    mov rax, [bootsvc]
    call [rax + BS_ALLOCATE_PAGES]
    add rsp, 0x28
    test rax, rax
    jnz .err
    clc
    ret
.err:
    stc
    ret

; rdx = UTF-16 string: ConOut->OutputString(ConOut, rdx)
print:
    sub rsp, 0x28
    mov rcx, [conout]
    call [rcx + OUT_STRING]
    add rsp, 0x28
    ret

s_banner:   dw __?utf16?__("NVMX-PROBE (UEFI): results go to COM1 and port 0xE9"), 13, 10, 0
s_novmx:    dw __?utf16?__("NOVMX CPUID.1:ECX.VMX[bit 5] = 0: this CPU (or hypervisor) does not offer VMX"), 13, 10, 0
s_leaving:  dw __?utf16?__("NVMX-PROBE: leaving boot services"), 13, 10, 0
s_nomem:    dw __?utf16?__("NVMX-PROBE: the memory the probe needs (36-40 KiB, 1-4 MiB, 48-64 MiB) is in use by the firmware; cannot run"), 13, 10, 0
s_ebs:      dw __?utf16?__("NVMX-PROBE: ExitBootServices failed"), 13, 10, 0
